/* fixture-wrong-major.c - ABI fixture: built for another ABI major; refused */
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

static int fixture_poll(void *state)
{
	(void)state;
	return 0;
}

static const struct vigil_plugin_methods fixture_methods = {
	.size = sizeof(struct vigil_plugin_methods),
	.create = fixture_create,
	.destroy = fixture_destroy,
	.poll = fixture_poll,
};

/* Everything is right except the ABI version. */
static const struct vigil_plugin fixture_plugin = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR + 1,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "fixture-wrong-major",
	.version = "1.0",
	.description = "ABI fixture: built for another ABI major; refused",
	.kind = VIGIL_PLUGIN_SOURCE,
	.methods = &fixture_methods,
};

VIGIL_PLUGIN_DEFINE(fixture_plugin)
