/* plugin-loader.c - (being written) */
