/* fuzz-yaml.c - libFuzzer harness: YAML documents through the node tree and its typed reads */
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch every node the way config.c does: lookups and typed reads. */
static void walk(const struct ynode *n, int depth)
{
	if (!n || depth > 300)
		return;
	bool b;
	long long i;
	double d;
	switch (n->type) {
	case YNODE_SCALAR:
		(void)ynode_bool(n, &b);
		(void)ynode_int(n, &i);
		(void)ynode_number(n, &d);
		(void)ynode_is_null(n);
		break;
	case YNODE_SEQUENCE:
		for (size_t k = 0; k < n->n; k++)
			walk(n->items[k], depth + 1);
		break;
	case YNODE_MAPPING:
		for (size_t k = 0; k < n->n; k++) {
			(void)ynode_get(n, n->entries[k].key->value);
			walk(n->entries[k].value, depth + 1);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diags d = { 0 };
	struct ydoc *doc = ydoc_load_string("fuzz.yaml", (const char *)data, size, &d);
	if (doc)
		walk(doc->root, 0);
	ydoc_free(doc);
	diags_clear(&d);
	return 0;
}
