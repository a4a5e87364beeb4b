"""One module per page; each page takes the shared ProjectSession and a controller."""
