"""Evidence files (photos, PDFs) attached to a self-assessment's criteria items."""
