/* dispatch.c - (being written) */
