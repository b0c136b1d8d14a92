"""The provider network: organisations that do the work, their credentials and reach."""
