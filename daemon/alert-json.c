/* alert-json.c - (being written) */
