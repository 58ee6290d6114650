"""The RTGS payment-day engine: setup, samples, the reference engine and the batch engine."""
