/* pipeline.c - (being written) */
