/*
 * hg_storage.c
 *    Rows of a kept sample (see hg_storage.h).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "hg_storage.h"

#define SAMPLE_COLS 14
#define RECEPTION_COLS 16

static const char *const split_names[3] = {"train", "val", "test"};

void
hg_storage_prepare(HgStorage *st, uint64 seed, const hg_config *cfg)
{
	Oid			sample_types[SAMPLE_COLS] = {INT8OID, INT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID,
		FLOAT8OID, TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, INT4OID, INT4OID, TEXTOID};
	Oid			fill_types[4] = {INT8OID, INT8OID, INT4OID, BYTEAOID};
	Oid			reception_types[RECEPTION_COLS] = {INT8OID, INT8OID, INT4OID, TEXTOID, FLOAT8OID, FLOAT8OID,
		FLOAT8OID, TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, BOOLOID, BYTEAOID};

	st->insert_sample = SPI_prepare(
									"INSERT INTO heimdall_gen.samples (dataset_id, sample_idx, tx_lat, tx_lon, tx_alt_m, "
									"tx_power_dbm, frequency_hz, modulation, content, gdop, mean_snr_db, n_receivers, n_detected, split) "
									"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
									SAMPLE_COLS, sample_types);
	st->insert_reception = SPI_prepare(
									   "INSERT INTO heimdall_gen.receptions (dataset_id, sample_idx, rx_idx, rx_name, rx_lat, rx_lon, "
									   "rx_alt_m, antenna, antenna_gain_dbi, distance_m, delay_s, rx_power_dbm, snr_db, "
									   "freq_offset_hz, signal_present, iq) "
									   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
									   RECEPTION_COLS, reception_types);
	st->fill_iq = SPI_prepare("UPDATE heimdall_gen.receptions SET iq = $4 "
							  " WHERE dataset_id = $1 AND sample_idx = $2 AND rx_idx = $3 AND iq IS NULL",
							  4, fill_types);
	if (st->insert_sample == NULL || st->insert_reception == NULL || st->fill_iq == NULL)
		elog(ERROR, "could not prepare the inserts: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(st->insert_sample) != 0 || SPI_keepplan(st->insert_reception) != 0 ||
		SPI_keepplan(st->fill_iq) != 0)
		elog(ERROR, "could not keep the inserts");
	st->seed = seed;
	memcpy(st->split_ratios, cfg->split_ratios, sizeof(st->split_ratios));
	st->store_iq = cfg->iq_storage != HG_IQ_VIRTUAL;
	st->rows_context = AllocSetContextCreate(TopMemoryContext, "heimdall_gen rows",
											 ALLOCSET_DEFAULT_SIZES);
}

/* A bytea holding the reception's IQ exactly as the model wrote it (cf32_le). */
static bytea *
iq_bytea(const hg_reception *r, int n_iq)
{
	Size		len = (Size) n_iq * 2 * sizeof(float);
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), r->iq, len);
	return b;
}

bool
hg_storage_write(HgStorage *st, int64 dataset_id, const hg_sample *s,
				 bool (*stop_requested) (void *arg), void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(st->rows_context);
	Datum		v[RECEPTION_COLS];
	static const char no_iq[RECEPTION_COLS + 1] = "               n";	/* iq, the last column, NULL */
	int			k;

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
	if (SPI_execute_plan(st->insert_sample, v, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "heimdall_gen: could not insert sample " INT64_FORMAT, (int64) s->sample_idx);

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
		if (stop_requested && stop_requested(arg))
		{
			MemoryContextSwitchTo(old);
			MemoryContextReset(st->rows_context);
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
		v[15] = st->store_iq ? PointerGetDatum(iq_bytea(r, s->n_iq)) : (Datum) 0;
		if (SPI_execute_plan(st->insert_reception, v, st->store_iq ? NULL : no_iq, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "heimdall_gen: could not insert reception %d of sample " INT64_FORMAT,
				 k, (int64) s->sample_idx);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rows_context);
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
		if (stop_requested && stop_requested(arg))
		{
			MemoryContextSwitchTo(old);
			MemoryContextReset(st->rows_context);
			return false;
		}
		v[0] = Int64GetDatum(dataset_id);
		v[1] = Int64GetDatum((int64) s->sample_idx);
		v[2] = Int32GetDatum(s->rx[k].rx_idx);
		v[3] = PointerGetDatum(iq_bytea(&s->rx[k], s->n_iq));
		if (SPI_execute_plan(st->fill_iq, v, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not store the IQ of reception %d of sample " INT64_FORMAT,
				 k, (int64) s->sample_idx);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rows_context);
	return true;
}
