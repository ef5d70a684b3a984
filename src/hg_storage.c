/*
 * hg_storage.c
 *    Rows of a kept sample (see hg_storage.h).  The IQ is 99 % of the bytes
 *    and goes through TOAST either way; the direct path saves the executor's
 *    per-row start and end, the plan's parameter copies and the foreign key
 *    check's query per row.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "hg_sql.h"
#include "hg_storage.h"

#define SAMPLE_COLS 14
#define RECEPTION_COLS 16

static const char *const split_names[3] = {"train", "val", "test"};

static const char *const sample_names[SAMPLE_COLS] = {"dataset_id", "sample_idx", "tx_lat", "tx_lon",
	"tx_alt_m", "tx_power_dbm", "frequency_hz", "modulation", "content", "gdop", "mean_snr_db", "n_receivers",
"n_detected", "split"};
static const Oid sample_types[SAMPLE_COLS] = {INT8OID, INT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID,
FLOAT8OID, TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, INT4OID, INT4OID, TEXTOID};
static const char *const reception_names[RECEPTION_COLS] = {"dataset_id", "sample_idx", "rx_idx", "rx_name",
	"rx_lat", "rx_lon", "rx_alt_m", "antenna", "antenna_gain_dbi", "distance_m", "delay_s", "rx_power_dbm",
"snr_db", "freq_offset_hz", "signal_present", "iq"};
static const Oid reception_types[RECEPTION_COLS] = {INT8OID, INT8OID, INT4OID, TEXTOID, FLOAT8OID, FLOAT8OID,
FLOAT8OID, TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, BOOLOID, BYTEAOID};

/* An INSERT of every column, $1 ... $n in the order of names[]. */
static SPIPlanPtr
prepare_insert(const char *table, int n, const char *const *names, const Oid *types)
{
	StringInfoData sql;
	SPIPlanPtr	plan;
	int			k;

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO heimdall_gen.%s (", table);
	for (k = 0; k < n; k++)
		appendStringInfo(&sql, "%s%s", k ? ", " : "", names[k]);
	appendStringInfoString(&sql, ") VALUES (");
	for (k = 0; k < n; k++)
		appendStringInfo(&sql, "%s$%d", k ? ", " : "", k + 1);
	appendStringInfoChar(&sql, ')');
	plan = hg_prepare_kept(sql.data, n, (Oid *) types);
	pfree(sql.data);
	return plan;
}

void
hg_storage_prepare(HgStorage *st, uint64 seed, const hg_config *cfg)
{
	Oid			fill_types[4] = {INT8OID, INT8OID, INT4OID, BYTEAOID};
	const char *why_samples;
	const char *why_receptions;

	memset(st, 0, sizeof(*st));

	/*
	 * Rows go in as COPY writes them unless a table has something on INSERT
	 * that this would skip (a superuser may add a trigger): then through the
	 * executor, as before.  The foreign keys need no trigger: receptions ->
	 * samples points at the sample this worker inserted just before, in the
	 * same transaction, where nobody else can see it, let alone delete it;
	 * samples -> datasets is what the trigger would do, a FOR KEY SHARE lock
	 * on the dataset's row, which the caller holds (hg_worker.c,
	 * lock_dataset_row): it stops the job if the dataset is gone and keeps
	 * it from going until the batch commits.
	 */
	/* "&", not "&&": both are prepared, the executor's way needs their column counts too */
	st->direct = hg_bulk_prepare(&st->samples, "heimdall_gen", "samples", SAMPLE_COLS,
								 sample_names, sample_types, &why_samples) &
		hg_bulk_prepare(&st->receptions, "heimdall_gen", "receptions", RECEPTION_COLS,
						reception_names, reception_types, &why_receptions);
	if (!st->direct)
		ereport(LOG,
				(errmsg("inserting heimdall_gen rows through the executor: %s",
						why_samples ? why_samples : why_receptions)));
	if (!st->direct)
	{
		st->insert_sample = prepare_insert("samples", SAMPLE_COLS, sample_names, sample_types);
		st->insert_reception = prepare_insert("receptions", RECEPTION_COLS, reception_names, reception_types);
	}
	st->fill_iq = hg_prepare_kept("UPDATE heimdall_gen.receptions SET iq = $4 "
								  " WHERE dataset_id = $1 AND sample_idx = $2 AND rx_idx = $3 AND iq IS NULL",
								  4, fill_types);
	st->seed = seed;
	memcpy(st->split_ratios, cfg->split_ratios, sizeof(st->split_ratios));
	st->store_iq = cfg->iq_storage != HG_IQ_VIRTUAL;
	st->rows_context = AllocSetContextCreate(TopMemoryContext, "heimdall_gen rows",
											 ALLOCSET_DEFAULT_SIZES);
}

Size
hg_reception_iq_bytes(int n_iq)
{
	return (Size) n_iq * 2 * sizeof(float);
}

bytea *
hg_reception_iq_bytea(const hg_reception *r, int n_iq)
{
	Size		len = hg_reception_iq_bytes(n_iq);
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), r->iq, len);
	return b;
}

/*
 * The TOAST pages a reception's IQ will fill, added before its row between
 * stop checks rather than inside its insert (hg_extend.h).
 */
static bool
make_room_for_iq(HgStorage *st, const hg_sample *s, bool (*stop_requested) (void *arg), void *arg)
{
	return hg_extend_ahead(&st->extend, st->receptions.relid, VARHDRSZ + hg_reception_iq_bytes(s->n_iq),
						   stop_requested, arg);
}

static void
insert_row(HgStorage *st, HgBulkTable *t, SPIPlanPtr plan, Datum *v, const bool *isnull)
{
	if (st->direct)
		hg_bulk_insert(t, v, isnull);
	else
	{
		char		nulls[HG_BULK_MAX_COLS] = {0};
		int			k;

		for (k = 0; k < t->ncols; k++)
			nulls[k] = isnull[k] ? 'n' : ' ';
		if (SPI_execute_plan(plan, v, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into %s", plan == st->insert_sample ? "samples" : "receptions");
	}
}

static void
end_sample(HgStorage *st, MemoryContext old)
{
	if (st->direct)
	{
		hg_bulk_close(&st->receptions);
		hg_bulk_close(&st->samples);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rows_context);
}

bool
hg_storage_write(HgStorage *st, int64 dataset_id, const hg_sample *s,
				 bool (*stop_requested) (void *arg), void *arg)
{
	MemoryContext old;
	Datum		v[RECEPTION_COLS];
	bool		isnull[RECEPTION_COLS] = {0};
	int			k;

	if (st->direct)
	{
		old = MemoryContextSwitchTo(st->rows_context);
		hg_bulk_open(&st->samples);
		hg_bulk_open(&st->receptions);
	}
	else
		old = MemoryContextSwitchTo(st->rows_context);

	v[0] = Int64GetDatum(dataset_id);
	v[1] = Int64GetDatum((int64) s->sample_idx);
	v[2] = Float8GetDatum(s->tx_lat_deg);
	v[3] = Float8GetDatum(s->tx_lon_deg);
	v[4] = Float8GetDatum(s->tx_alt_m);
	v[5] = Float8GetDatum(s->tx_power_dbm);
	v[6] = Float8GetDatum(s->frequency_hz);
	v[7] = CStringGetTextDatum(hg_modulation_name(s->modulation));
	v[8] = CStringGetTextDatum(hg_content_name(s->content));
	v[9] = Float8GetDatum(s->gdop);
	v[10] = Float8GetDatum(s->mean_snr_db);
	v[11] = Int32GetDatum(s->n_receivers);
	v[12] = Int32GetDatum(s->n_detected);
	v[13] = CStringGetTextDatum(split_names[hg_split_of(st->seed, s->sample_idx, st->split_ratios)]);
	insert_row(st, &st->samples, st->insert_sample, v, isnull);

	for (k = 0; k < s->n_receivers; k++)
	{
		const hg_reception *r = &s->rx[k];

		/*
		 * Every SPI call returns in the SPI procedure context, which lives as
		 * long as the transaction: build each row in rows_context again, or
		 * a batch would hold every row's IQ until it commits.
		 */
		MemoryContextSwitchTo(st->rows_context);

		/* a row is ~80 kB through shared buffers: one may wait on I/O, so ask between rows */
		if ((stop_requested && stop_requested(arg)) ||
			(st->store_iq && !make_room_for_iq(st, s, stop_requested, arg)))
		{
			end_sample(st, old);
			return false;
		}
		v[0] = Int64GetDatum(dataset_id);
		v[1] = Int64GetDatum((int64) s->sample_idx);
		v[2] = Int32GetDatum(r->rx_idx);
		v[3] = CStringGetTextDatum(r->rx_name);
		v[4] = Float8GetDatum(r->lat_deg);
		v[5] = Float8GetDatum(r->lon_deg);
		v[6] = Float8GetDatum(r->alt_m);
		v[7] = CStringGetTextDatum(hg_antenna_name(r->antenna));
		v[8] = Float8GetDatum(r->antenna_gain_dbi);
		v[9] = Float8GetDatum(r->distance_m);
		v[10] = Float8GetDatum(r->delay_s);
		v[11] = Float8GetDatum(r->rx_power_dbm);
		v[12] = Float8GetDatum(r->snr_db);
		v[13] = Float8GetDatum(r->freq_offset_hz);
		v[14] = BoolGetDatum(r->signal_present);
		v[15] = st->store_iq ? PointerGetDatum(hg_reception_iq_bytea(r, s->n_iq)) : (Datum) 0;
		isnull[15] = !st->store_iq;
		insert_row(st, &st->receptions, st->insert_reception, v, isnull);
	}
	end_sample(st, old);
	return true;
}

bool
hg_storage_fill_iq(HgStorage *st, int64 dataset_id, const hg_sample *s,
				   bool (*stop_requested) (void *arg), void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(st->rows_context);
	int			k;

	for (k = 0; k < s->n_receivers; k++)
	{
		Datum		v[4];

		MemoryContextSwitchTo(st->rows_context);
		if ((stop_requested && stop_requested(arg)) || !make_room_for_iq(st, s, stop_requested, arg))
		{
			MemoryContextSwitchTo(old);
			MemoryContextReset(st->rows_context);
			return false;
		}
		v[0] = Int64GetDatum(dataset_id);
		v[1] = Int64GetDatum((int64) s->sample_idx);
		v[2] = Int32GetDatum(s->rx[k].rx_idx);
		v[3] = PointerGetDatum(hg_reception_iq_bytea(&s->rx[k], s->n_iq));
		if (SPI_execute_plan(st->fill_iq, v, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not store the IQ of reception %d of sample " INT64_FORMAT,
				 k, (int64) s->sample_idx);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rows_context);
	return true;
}
