/* options.c - (being written) */
