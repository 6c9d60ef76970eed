"""Recognition decisions (quyết định công nhận), certificates and their public verification."""
