"""Provider matching: which network providers may take a referral, and in what order."""
