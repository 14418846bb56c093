/* match.c - (being written) */
