"""Claims and remittance (DOMAIN.md §7): a claim prepared for a delivered service or a
visit done, written as an 837P and checked by pyx12 before it leaves, its timely-filing
window kept as a clock; 835 remittances posted to their claims and reconciled."""
