"""FHIR R4 at ``/fhir``: an adapter (mappers between cases and FHIR resources, one module
per operation, OperationOutcome errors) over the referral domain's public surface. No
domain imports it."""
