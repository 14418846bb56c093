/* fixture-missing-method.c - ABI fixture: a sink without deliver(); the loader must refuse it */
#include <vigil/plugin.h>

static int fixture_create(const struct vigil_host *host, void **state)
{
	(void)host;
	*state = NULL;
	return 0;
}

static void fixture_destroy(void *state)
{
	(void)state;
}

/* deliver is required for a sink and left out on purpose. */
static const struct vigil_plugin_methods fixture_methods = {
	.size = sizeof(struct vigil_plugin_methods),
	.create = fixture_create,
	.destroy = fixture_destroy,
	.deliver = NULL,
};

static const struct vigil_plugin fixture_plugin = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "fixture-missing-method",
	.version = "1.0",
	.description = "ABI fixture: a sink without deliver()",
	.kind = VIGIL_PLUGIN_SINK,
	.methods = &fixture_methods,
};

VIGIL_PLUGIN_DEFINE(fixture_plugin)
