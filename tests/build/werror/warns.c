/* -Wunused-variable (in -Wall): a warning, an error under FEDC_WERROR. */
int probe(void);

int probe(void)
{
	int unused = 1;

	return 0;
}
