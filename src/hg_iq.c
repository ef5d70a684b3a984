/*
 * hg_iq.c
 *    Reading IQ of any dataset, stored or virtual: iq() returns the stored
 *    bytes, or regenerates the attempt with the model (the bytes are a pure
 *    function of model version, params, seed and attempt index) and returns
 *    that reception's; free_iq() drops stored IQ after proving regeneration
 *    gives the same bytes; split_of() is the model's train/val/test hash.
 *
 *    Regeneration keeps one attempt per backend (and per parallel worker)
 *    until its transaction ends: reading the receptions of a sample one
 *    after the other in one statement or transaction costs one attempt.
 *    Rows are read as the caller, so row-level security decides which
 *    datasets exist for them.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "hg_iq.h"
#include "hg_model.h"
#include "hg_params.h"
#include "hg_sql.h"
#include "hg_storage.h"

PG_FUNCTION_INFO_V1(hg_iq);
PG_FUNCTION_INFO_V1(hg_free_iq);
PG_FUNCTION_INFO_V1(hg_split_of_sql);

/*
 * The last attempt this backend regenerated, and the config it used.  It
 * is keyed on the dataset's id, seed and params together: an id alone is
 * reused (DROP and CREATE EXTENSION start the identity again), and a
 * cache keyed on it served a new dataset the IQ of the old one.
 */
typedef struct RegenCache
{
	int64		dataset_id;		/* -1: nothing cached */
	int64		seed;
	Jsonb	   *params;			/* a copy, in TopMemoryContext; NULL: none */
	hg_config	cfg;
	hg_workspace *ws;
	int64		sample_idx;		/* -1: no attempt in ws */
	hg_outcome	outcome;
	hg_sample	sample;
} RegenCache;

static RegenCache *cache = NULL;

/* Nothing cached: the workspace, its attempt and the params it was for let go. */
static void
forget_cache(void)
{
	hg_workspace_destroy(cache->ws);
	cache->ws = NULL;
	cache->dataset_id = -1;
	cache->sample_idx = -1;
	if (cache->params)
		pfree(cache->params);
	cache->params = NULL;
}

/*
 * At the end of each transaction the workspace and its attempt are let go:
 * kept for the session, a dataset of 15 receptions of 262144 complex
 * samples held 66 MB in every backend that had once read it, idle or not
 * (an attacker's review: a hundred idle sessions, 6.6 GB).  Callers read
 * a sample's receptions in one statement; only a client reading them in
 * separate autocommit statements pays an attempt for each.
 */
static void
release_cache_at_end_of_transaction(XactEvent event, void *arg)
{
	if (cache == NULL || cache->ws == NULL)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	forget_cache();
}

const hg_sample *
hg_regenerate(int64 dataset_id, int64 seed, Jsonb *params, int32 model_version, int64 sample_idx)
{
	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(TopMemoryContext, sizeof(RegenCache));
		cache->dataset_id = -1;
		cache->sample_idx = -1;
		RegisterXactCallback(release_cache_at_end_of_transaction, NULL);
	}
	/* jsonb is stored canonically (keys sorted, no duplicates): equal params, equal bytes */
	if (cache->dataset_id != dataset_id || cache->seed != seed || cache->params == NULL ||
		cache->cfg.model_version != model_version ||
		VARSIZE(cache->params) != VARSIZE(params) || memcmp(cache->params, params, VARSIZE(params)) != 0)
	{
		hg_config  *cfg = palloc(sizeof(hg_config));

		hg_params_to_config(params, cfg, false);
		cfg->model_version = model_version;	/* checked by the caller (require_model_version) */
		forget_cache();
		cache->ws = hg_workspace_create(cfg);
		if (cache->ws == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		cache->params = MemoryContextAlloc(TopMemoryContext, VARSIZE(params));
		memcpy(cache->params, params, VARSIZE(params));
		cache->cfg = *cfg;
		cache->seed = seed;
		cache->dataset_id = dataset_id;
	}
	if (cache->sample_idx != sample_idx)
	{
		cache->sample_idx = -1;
		cache->outcome = hg_attempt(&cache->cfg, (uint64) seed, (uint64) sample_idx, cache->ws, &cache->sample);
		cache->sample_idx = sample_idx;
	}
	if (cache->outcome != HG_KEPT)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("attempt " INT64_FORMAT " of dataset " INT64_FORMAT " is not a kept sample when regenerated",
						sample_idx, dataset_id),
				 errdetail("The dataset's rows do not match what its params and seed generate.")));
	return &cache->sample;
}

/* The model version check every regeneration goes through: the version, once it passed. */
static int32
require_model_version(const char *dataset, int32 version)
{
	if (!hg_model_generates(version))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dataset \"%s\" %s", dataset, hg_model_version_refusal(version)),
				 errdetail("Its IQ cannot be regenerated to the byte by another model; stored IQ is still readable."),
				 errhint("Read it where model version %d is installed, or materialize it there.", version)));
	return version;
}

/* SQL: heimdall_gen.iq(dataset_id, sample_idx, rx_idx) -> bytea */
Datum
hg_iq(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	int64		dataset_id = PG_GETARG_INT64(0);
	int64		sample_idx = PG_GETARG_INT64(1);
	int32		rx_idx = PG_GETARG_INT32(2);
	MemoryContext caller_context = CurrentMemoryContext;
	Datum		args[3] = {Int64GetDatum(dataset_id), Int64GetDatum(sample_idx), Int32GetDatum(rx_idx)};
	bool		isnull;
	bytea	   *result;
	char	   *name;
	int32		n_receivers;
	Datum		stored;

	hg_require_current_schema();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan == NULL)
	{
		Oid			types[3] = {INT8OID, INT8OID, INT4OID};

		/* as the caller: row-level security hides other roles' datasets */
		plan = hg_prepare_kept("SELECT d.name, d.seed, d.params, d.model_version, s.n_receivers, r.iq, r.delay_s "
							   "  FROM heimdall_gen.datasets d "
							   "  LEFT JOIN heimdall_gen.samples s ON s.dataset_id = d.dataset_id AND s.sample_idx = $2 "
							   "  LEFT JOIN heimdall_gen.receptions r ON r.dataset_id = d.dataset_id "
							   "       AND r.sample_idx = $2 AND r.rx_idx = $3 "
							   " WHERE d.dataset_id = $1", 3, types);
	}
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read dataset " INT64_FORMAT, dataset_id);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dataset " INT64_FORMAT " does not exist", dataset_id)));
	name = TextDatumGetCString(hg_spi_get_notnull(0, 1, "datasets.name"));
	(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),	/* as sigmf() says it: no such sample */
				 errmsg("sample_idx " INT64_FORMAT " is not a kept sample of dataset \"%s\"", sample_idx, name),
				 errhint("The kept samples are the sample_idx values of heimdall_gen.samples.")));
	n_receivers = DatumGetInt32(hg_spi_get_notnull(0, 5, "samples.n_receivers"));
	if (rx_idx < 0 || rx_idx >= n_receivers)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rx_idx must be between 0 and %d for sample " INT64_FORMAT " of dataset \"%s\", not %d",
						n_receivers - 1, sample_idx, name, rx_idx)));
	stored = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull);
	if (!isnull)
	{
		MemoryContext old = MemoryContextSwitchTo(caller_context);

		result = DatumGetByteaPCopy(stored);
		MemoryContextSwitchTo(old);
	}
	else
	{
		const hg_sample *s;
		double		delay_s = DatumGetFloat8(hg_spi_get_notnull(0, 7, "receptions.delay_s"));
		Jsonb	   *params = DatumGetJsonbP(hg_spi_get_notnull(0, 3, "datasets.params"));
		MemoryContext old;
		int32		version = require_model_version(name, DatumGetInt32(hg_spi_get_notnull(0, 4, "datasets.model_version")));

		s = hg_regenerate(dataset_id, DatumGetInt64(hg_spi_get_notnull(0, 2, "datasets.seed")), params, version,
						  sample_idx);
		/* the labels say which attempt this is: a cheap guard against rows that are not */
		if (s->n_receivers != n_receivers || s->rx[rx_idx].delay_s != delay_s)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("regenerated sample " INT64_FORMAT " of dataset \"%s\" does not match its stored labels",
							sample_idx, name)));
		old = MemoryContextSwitchTo(caller_context);
		result = hg_reception_iq_bytea(&s->rx[rx_idx], s->n_iq);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PG_RETURN_BYTEA_P(result);
}

/*
 * The refusal of free_iq while a job of the dataset has not ended, from the
 * row of its lock query (job_id, status: NULL when there is none), in the
 * words start_job and materialize use, with the job's status (a paused job
 * writes nothing now).
 */
static void
refuse_if_being_written(const char *name)
{
	bool		none;
	Datum		busy_job = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &none);

	if (none)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg("dataset \"%s\" is being written by job " INT64_FORMAT, name, DatumGetInt64(busy_job)),
			 errdetail("Job " INT64_FORMAT " is %s.", DatumGetInt64(busy_job),
					   TextDatumGetCString(hg_spi_get_notnull(0, 2, "jobs.status"))),
			 errhint("Wait for that job to end, or cancel it.")));
}

/*
 * SQL: heimdall_gen.free_iq(dataset) -> bigint.  Every stored reception is
 * regenerated and compared byte for byte first; the first mismatch refuses
 * the whole call (naming it) and nothing is freed.
 */
Datum
hg_free_iq(PG_FUNCTION_ARGS)
{
	text	   *dataset;
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	char	   *name;
	int64		dataset_id;
	int64		seed;
	Jsonb	   *params;
	int32		version;
	Portal		portal;
	SPIPlanPtr	plan;
	uint64		freed;
	Oid			id_type[1] = {INT8OID};
	Datum		id_arg[1];
	MemoryContext per_reception;

	hg_require_arg(0, "dataset");
	dataset = PG_GETARG_TEXT_PP(0);
	args[0] = PointerGetDatum(dataset);
	name = text_to_cstring(dataset);
	hg_require_current_schema();
	/* it deletes rows: refused as a whole, not by its SELECT ... FOR UPDATE inside (a replication review) */
	PreventCommandIfReadOnly("free_iq()");
	hg_require_possible_dataset_name(dataset);
	hg_refuse_others_dataset("free_iq", dataset);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the caller's own dataset (row-level security lets admins see others', not free them) */
	if (SPI_execute_with_args("SELECT d.dataset_id, d.seed, d.params, d.model_version "
							  "  FROM heimdall_gen.datasets d "
							  " WHERE d.name = $1 AND d.owner = heimdall_gen.current_role_id()",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read dataset \"%s\"", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dataset \"%s\" does not exist", name)));
	dataset_id = DatumGetInt64(hg_spi_get_notnull(0, 1, "datasets.dataset_id"));
	seed = DatumGetInt64(hg_spi_get_notnull(0, 2, "datasets.seed"));
	params = DatumGetJsonbPCopy(hg_spi_get_notnull(0, 3, "datasets.params"));
	version = require_model_version(name, DatumGetInt32(hg_spi_get_notnull(0, 4, "datasets.model_version")));

	/*
	 * The dataset's row stays locked until this transaction ends: start_job
	 * locks it too, so no job can begin adding IQ that this call has not
	 * compared before its UPDATE frees it.  Then no job may be under way.
	 */
	id_arg[0] = Int64GetDatum(dataset_id);
	if (hg_spi_as_owner("SELECT b.job_id, b.status FROM heimdall_gen.datasets d "
						"  LEFT JOIN LATERAL (SELECT j.job_id, j.status FROM heimdall_gen.jobs j "
						"                      WHERE j.dataset_id = d.dataset_id "
						"                        AND j.status IN ('queued', 'running', 'paused') "
						"                      ORDER BY j.job_id LIMIT 1) b ON true "
						" WHERE d.dataset_id = $1 FOR UPDATE OF d",
						1, id_type, id_arg, NULL, false) != SPI_OK_SELECT)
		elog(ERROR, "could not lock dataset \"%s\"", name);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dataset \"%s\" does not exist", name)));
	refuse_if_being_written(name);

	/* one reception at a time through a cursor: a dataset's IQ may not fit in memory */
	plan = SPI_prepare("SELECT r.sample_idx, r.rx_idx, r.iq FROM heimdall_gen.receptions r "
					   " WHERE r.dataset_id = $1 AND r.iq IS NOT NULL ORDER BY r.sample_idx, r.rx_idx",
					   1, id_type);
	if (plan == NULL)
		elog(ERROR, "could not prepare the scan of receptions");
	/*
	 * Not read-only: a new snapshot, taken after the lock above.  With the
	 * statement's own, IQ committed by a job that ended between the call's
	 * start and that lock went uncompared, and the UPDATE below, which takes
	 * a new snapshot, freed it (a code review).
	 */
	portal = SPI_cursor_open(NULL, plan, id_arg, NULL, false);
	/*
	 * Each reception's IQ is detoasted into a context emptied after it: in
	 * SPI's own it stayed until the call ended, and a call's memory grew
	 * with the whole dataset's IQ (1.4 GB for a 1.2 GB dataset, found by an
	 * attacker's review: a few such calls at once could bring the OOM
	 * killer, and with it a restart of the whole server).
	 */
	per_reception = AllocSetContextCreate(CurrentMemoryContext, "free_iq reception", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		int64		sample_idx;
		int32		rx_idx;
		bytea	   *stored;
		const hg_sample *s;
		MemoryContext spi_context;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, 1);
		if (SPI_processed == 0)
			break;
		spi_context = MemoryContextSwitchTo(per_reception);
		sample_idx = DatumGetInt64(hg_spi_get_notnull(0, 1, "receptions.sample_idx"));
		rx_idx = DatumGetInt32(hg_spi_get_notnull(0, 2, "receptions.rx_idx"));
		stored = DatumGetByteaPP(hg_spi_get_notnull(0, 3, "receptions.iq"));
		s = hg_regenerate(dataset_id, seed, params, version, sample_idx);
		if (rx_idx < 0 || rx_idx >= s->n_receivers ||
			VARSIZE_ANY_EXHDR(stored) != hg_reception_iq_bytes(s->n_iq) ||
			memcmp(VARDATA_ANY(stored), s->rx[rx_idx].iq, VARSIZE_ANY_EXHDR(stored)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("stored IQ of sample " INT64_FORMAT ", rx_idx %d of dataset \"%s\" differs from its regeneration",
							sample_idx, rx_idx, name),
					 errdetail("Nothing was freed: the stored bytes are the only copy of that reception."),
					 errhint("Keep this dataset stored.")));
		MemoryContextSwitchTo(spi_context);
		MemoryContextReset(per_reception);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(per_reception);

	if (hg_spi_as_owner("UPDATE heimdall_gen.receptions r SET iq = NULL WHERE r.dataset_id = $1 AND r.iq IS NOT NULL",
						1, id_type, id_arg, NULL, false) != SPI_OK_UPDATE)
		elog(ERROR, "could not free the IQ of dataset \"%s\"", name);
	freed = SPI_processed;
	SPI_finish();
	PG_RETURN_INT64((int64) freed);
}

/* SQL: heimdall_gen.split_of(seed, sample_idx, ratios jsonb) -> text */
Datum
hg_split_of_sql(PG_FUNCTION_ARGS)
{
	static const char *const names[3] = {"train", "val", "test"};
	int64		seed = PG_GETARG_INT64(0);
	int64		sample_idx = PG_GETARG_INT64(1);
	Jsonb	   *ratios = PG_GETARG_JSONB_P(2);
	hg_config  *cfg = palloc(sizeof(hg_config));
	char		err[HG_ERRMSG_LEN];
	char	   *text = JsonbToCString(NULL, &ratios->root, VARSIZE(ratios));

	if (sample_idx < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample_idx must be 0 or more, not " INT64_FORMAT, sample_idx)));
	hg_config_init(cfg);
	if (!hg_config_set(cfg, "split_ratios", text, err, sizeof(err)))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", err)));
	PG_RETURN_TEXT_P(cstring_to_text(names[hg_split_of((uint64) seed, (uint64) sample_idx, cfg->split_ratios)]));
}
