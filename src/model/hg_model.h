/*
 * hg_model.h
 *    Public interface of the heimdall_gen signal model: a plain C99 library,
 *    free of any PostgreSQL header, that turns (configuration, dataset seed,
 *    attempt index) into either a rejection reason or one kept sample: a
 *    transmission seen by 3..15 receivers, with every label and the IQ of
 *    each reception.
 *
 * Data flows one way:
 *    key/value params -> hg_config (validated, every default resolved)
 *    -> hg_attempt(config, seed, i, workspace) -> rejected | hg_sample
 *    -> the caller writes the sample's labels and IQ straight into rows.
 *
 * All memory an attempt needs lives in an hg_workspace created once per
 * worker, so the steady state allocates nothing.  Every random draw of
 * attempt i comes from counter-based streams keyed only by (seed, i,
 * receiver, purpose) (see hg_rng.h), and every function the model uses
 * is built from IEEE basic operations (see hg_math.h), so attempt i yields
 * the same bytes on any machine, in any order, after any pause, crash or
 * restart.
 */
#ifndef HG_MODEL_H
#define HG_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HG_MIN_RECEIVERS 3
#define HG_MAX_RECEIVERS 15
#define HG_MAX_FIXED_RECEIVERS HG_MAX_RECEIVERS	/* every receiver hears each sample */
#define HG_RX_NAME_LEN 32
#define HG_ERRMSG_LEN 256
#define HG_SPEED_OF_LIGHT 299792458.0
/*
 * Block-fading amplitudes one reception holds (hg_channel_apply); a
 * reception longer than HG_MAX_FADING_BLOCKS - 3 coherence times would
 * have its blocks stretched, so new params may not ask for one.
 */
#define HG_MAX_FADING_BLOCKS 64

/*
 * Version of the model's output bytes: the labels and IQ that
 * (configuration, seed, attempt index) produce.  1 was the first release
 * (which used the C library's sin, cos, exp, log, pow and atan2); 2 computes
 * everything with hg_math and its own noise and oscillators; 3 gives each
 * reception its carrier phase (hg_channel.h), where 2 left every reception
 * of a sample in phase with the others.
 *
 * The rule: every change that alters any output byte of any attempt bumps
 * this number, keeps the older versions' bytes behind hg_config.model_version,
 * and test/unit/test_golden.c, which pins a hash of the full output of a
 * fixed set of attempts for each version, gets the new version's hash at
 * the same time.  A dataset records the version that made it, and is
 * regenerated (virtual IQ), extended and resumed by that version: a new
 * server keeps every dataset made since HG_MODEL_VERSION_OLDEST growing
 * and readable byte for byte.
 */
#define HG_MODEL_VERSION 3
#define HG_MODEL_VERSION_OLDEST 2	/* 1 used the C library's functions: gone */

int			hg_model_version(void);	/* HG_MODEL_VERSION of the compiled model */
bool		hg_model_generates(int version);	/* OLDEST <= version <= HG_MODEL_VERSION */

/* ------------------------------------------------------------------------
 * Enumerations (their text names are what the SQL side stores)
 * ------------------------------------------------------------------------ */

typedef enum hg_modulation
{
	HG_MOD_FM = 0,
	HG_MOD_AM,
	HG_MOD_CW,
	HG_MOD_FSK,
	HG_MOD_BPSK,
	HG_MOD_QPSK,
	HG_MOD_COUNT
} hg_modulation;

/* Baseband content of analog modulations (FM, AM); digital ones use DATA. */
typedef enum hg_content
{
	HG_CONTENT_VOICE = 0,
	HG_CONTENT_TONE,
	HG_CONTENT_DTMF,
	HG_CONTENT_DATA,		/* CW keying, FSK / PSK symbols */
	HG_CONTENT_COUNT
} hg_content;

typedef enum hg_antenna_kind
{
	HG_ANT_OMNI = 0,			/* RX: omni 0..3 dBi */
	HG_ANT_YAGI,				/* RX: 10..15 dBi, 30..60 deg beam */
	HG_ANT_LOG_PERIODIC,		/* RX: 8..12 dBi */
	HG_ANT_COLLINEAR,			/* RX: 6..9 dBi */
	HG_ANT_WHIP,				/* TX: 0..2 dBi */
	HG_ANT_RUBBER_DUCK,			/* TX: -3..0 dBi */
	HG_ANT_PORTABLE_DIRECTIONAL,	/* TX: 3..6 dBi */
	HG_ANT_COUNT
} hg_antenna_kind;

typedef enum hg_rx_layout
{
	HG_LAYOUT_UNIFORM = 0,		/* random count, uniform in the area */
	HG_LAYOUT_HEXAGONAL,		/* random count, jittered hexagonal grid */
	HG_LAYOUT_FIXED				/* the fixed network in config->fixed_rx */
} hg_rx_layout;

/* What the glue stores of a kept sample's IQ (the model's output is the same). */
typedef enum hg_iq_storage
{
	HG_IQ_STORED = 0,			/* "stored": the IQ is written with the labels */
	HG_IQ_VIRTUAL				/* "virtual": labels only; IQ regenerated on read */
} hg_iq_storage;

typedef enum hg_terrain_model
{
	HG_TERRAIN_STATISTICAL = 0, /* P(obstructed)=min(0.05+d_km/1000,0.2), U(10,30) dB */
	HG_TERRAIN_KNIFE_EDGE		/* one knife edge at mid-path, ITU-R P.526 */
} hg_terrain_model;

/* Outcome of one attempt.  HG_KEPT is 0; every other value is a reason. */
typedef enum hg_outcome
{
	HG_KEPT = 0,
	HG_REJECT_TOO_FEW_DETECTED,	/* detected receivers < min_receivers */
	HG_REJECT_LOW_MEAN_SNR,		/* mean SNR of the detected < min_snr_db */
	HG_REJECT_GDOP,				/* GDOP of the detected > max_gdop, or singular */
	HG_OUTCOME_COUNT
} hg_outcome;

const char *hg_modulation_name(hg_modulation m);
const char *hg_content_name(hg_content c);
const char *hg_antenna_name(hg_antenna_kind a);
const char *hg_outcome_name(hg_outcome o);	/* "kept", "too_few_detected", ... */
bool		hg_antenna_from_name(const char *name, hg_antenna_kind *kind);
bool		hg_antenna_is_rx(hg_antenna_kind kind);

/* ------------------------------------------------------------------------
 * Configuration: every parameter of signal-model.md, with its default.
 * Set from key/value pairs; each value is validated on the way in.
 * ------------------------------------------------------------------------ */

typedef struct hg_fixed_receiver
{
	char		name[HG_RX_NAME_LEN];
	double		lat_deg;
	double		lon_deg;
	double		alt_m;			/* antenna height above ground */
	hg_antenna_kind antenna;	/* one of the RX kinds */
	double		azimuth_deg;	/* pointing of a directional antenna */
} hg_fixed_receiver;

typedef struct hg_config
{
	/*
	 * The version of the bytes to generate: HG_MODEL_VERSION from
	 * hg_config_init, a stored dataset's own when the glue regenerates or
	 * extends it.  Not a parameter (no JSON key): datasets.model_version
	 * holds it.
	 */
	int			model_version;

	/* recording */
	double		sample_rate_hz;
	double		duration_ms;
	double		channel_bw_hz;
	double		frequency_min_hz;
	double		frequency_max_hz;

	/* receivers */
	hg_rx_layout rx_layout;
	int			rx_count_min;
	int			rx_count_max;
	double		area_lat_min;
	double		area_lat_max;
	double		area_lon_min;
	double		area_lon_max;
	double		hex_jitter;		/* fraction of the grid spacing */
	double		rx_height_min_m;
	double		rx_height_max_m;
	int			n_fixed_rx;
	hg_fixed_receiver fixed_rx[HG_MAX_FIXED_RECEIVERS];

	/* transmitter */
	double		tx_power_min_dbm;
	double		tx_power_max_dbm;
	double		tx_height_m;
	double		inside_ratio;
	double		margin_deg;

	/* link budget */
	double		env_loss_min_db;
	double		env_loss_max_db;
	hg_terrain_model terrain_model;
	double		slow_sigma_min_db;
	double		slow_sigma_max_db;
	double		rician_k_min_db;
	double		rician_k_max_db;
	double		rayleigh_beyond_km;
	double		fading_clip_min_db;
	double		fading_clip_max_db;
	bool		atmospheric_absorption;
	bool		tropo_ducting;
	bool		sporadic_e;
	bool		polarization_mismatch;
	double		noise_floor_dbm;

	/* waveform */
	double		weight_fm;
	double		weight_am;
	double		weight_cw;
	double		weight_fsk;
	double		weight_bpsk;
	double		weight_qpsk;
	double		weight_voice;	/* content of FM / AM */
	double		weight_tone;
	double		weight_dtmf;
	double		fm_deviation_hz;
	double		am_index;
	double		symbol_rate_hz; /* FSK, BPSK, QPSK */
	double		fsk_shift_hz;	/* tone spacing of 2-FSK */
	double		rrc_rolloff;
	double		cw_wpm;

	/* channel */
	double		freq_error_max_hz;
	bool		multipath;
	int			echoes_min;
	int			echoes_max;
	double		echo_delay_min_us;
	double		echo_delay_max_us;
	double		echo_atten_min_db;
	double		echo_atten_max_db;
	bool		block_fading;
	double		coherence_min_ms;
	double		coherence_max_ms;
	bool		noise;			/* off only for verification */

	/* which samples are kept */
	double		min_snr_db;
	int			min_receivers;
	double		max_gdop;

	/*
	 * dataset layout: neither changes an attempt's output.  split_ratios
	 * (train, val, test) feed hg_split_of; iq_storage tells the glue whether
	 * to store the IQ.
	 */
	hg_iq_storage iq_storage;
	double		split_ratios[3];
} hg_config;

/* Fill every field with its default. */
void		hg_config_init(hg_config *cfg);

/*
 * Set one scalar parameter from the JSON text of its value, as the SQL side
 * gets it from a jsonb object (value::text): numbers and booleans as they
 * are, enums as JSON strings with their quotes ("\"hexagonal\"").  A wrong
 * JSON type is an error.  Returns true on success; on failure returns false,
 * leaves cfg unchanged and writes into errmsg a message naming the key and
 * its allowed range.  The fixed network ("fixed_receivers" in the JSON) is
 * not a scalar: the caller adds it with hg_config_add_fixed_receiver.
 * "split_ratios" is an array: hg_config_set accepts its JSON text
 * ("[0.8, 0.1, 0.1]") as a convenience, or the caller uses
 * hg_config_set_split_ratios.
 */
bool		hg_config_set(hg_config *cfg, const char *key, const char *value,
						  char *errmsg, size_t errmsg_len);

/*
 * The (train, val, test) fractions: n must be 3, each finite and in
 * [0, 1], summing to 1 within 1e-9.  Same error contract as hg_config_set.
 */
bool		hg_config_set_split_ratios(hg_config *cfg, const double *ratios, int n,
									   char *errmsg, size_t errmsg_len);

/*
 * Checks that span several fields (min <= max, rx_count_max <= 15, a fixed
 * network of at least 3 receivers ...).  Same error contract as above.
 */
bool		hg_config_validate(const hg_config *cfg, char *errmsg, size_t errmsg_len);

/*
 * Whether the fixed network's receivers stand on one line, or at one point:
 * then no transmitter position gives them a fix and every attempt would be
 * rejected.  Conservative (in hg_geo.c): a network that answers true can
 * have no kept sample.  Not part of hg_config_validate, so that a stored
 * dataset's params always read back; start_job refuses such a network.
 */
bool		hg_config_fixed_network_on_a_line(const hg_config *cfg);

/*
 * From the westernmost to the easternmost fixed receiver, in degrees of
 * longitude as given (-180 .. 180).  The transmitter is drawn between the
 * two (and a margin), so a network across the antimeridian, whose span
 * this way is over 180 degrees, would see it drawn anywhere on the globe:
 * start_job refuses those.
 */
double		hg_config_fixed_network_lon_span_deg(const hg_config *cfg);

/*
 * Whether each modulation that can be drawn fits in the channel: the two
 * 2-FSK tones (at +-fsk_shift_hz/2, each symbol_rate_hz wide) and the FM
 * carrier's swing (+-fm_deviation_hz) within channel_bw_hz.  Beyond it the
 * transmitter's channel filter removes what the labels describe (a tone
 * outside the channel, and past sample_rate_hz/2, aliased).  False with
 * the message naming the parameters.  Not part of hg_config_validate, for
 * the same reason as above: start_job refuses such parameters.
 */
bool		hg_config_modulations_fit_channel(const hg_config *cfg, char *errmsg, size_t errmsg_len);

/*
 * Whether the channel's draws fit the recording, for new params (not part
 * of hg_config_validate, for the same reason as above):
 *  - the receiver's frequency error, U(+-freq_error_max_hz) and the only
 *    shift added to the baseband, keeps the occupied band inside
 *    +-sample_rate_hz/2: the FM swing (2 fm_deviation_hz) and, for the
 *    modulations that pass the transmitter's channel filter, channel_bw_hz.
 *    Beyond it the carrier wraps around and freq_offset_hz no longer says
 *    where it is in the IQ;
 *  - with block fading, the shortest coherence time leaves at most
 *    HG_MAX_FADING_BLOCKS blocks per reception (else they are stretched
 *    and the coherence time in the params is not the one in the IQ).
 * False with the message naming the parameters and the allowed value.
 */
bool		hg_config_channel_fits_recording(const hg_config *cfg, char *errmsg, size_t errmsg_len);

/*
 * Thermal noise over the recorded band, kTB at T = 290 K with B =
 * sample_rate_hz, in dBm: -174 dBm/Hz + 10 log10(B).  noise_floor_dbm is the
 * noise power over that same band, so a real receiver's floor is this plus
 * its noise figure; a floor below it would be a receiver better than
 * physics allows (the default -120 dBm is, above 250 kHz).  Not a check of
 * hg_config_validate: start_job warns (it changes no byte).
 */
double		hg_config_thermal_noise_dbm(const hg_config *cfg);

/* Add one receiver of a fixed network (the layout becomes "fixed"). */
bool		hg_config_add_fixed_receiver(hg_config *cfg, const hg_fixed_receiver *rx,
										 char *errmsg, size_t errmsg_len);

/*
 * The fully resolved configuration as one JSON object (every key with its
 * value; "split_ratios": [train, val, test] and the fixed receivers as
 * arrays), for the dataset row.  Feeding every key back through
 * hg_config_set (and the receivers through hg_config_add_fixed_receiver)
 * reproduces the same configuration.
 * Returns the length written (excluding NUL) or the length needed if buf is
 * too small, as snprintf does.
 */
size_t		hg_config_to_json(const hg_config *cfg, char *buf, size_t buf_len);

/* Number of complex samples in one reception. */
int			hg_config_iq_length(const hg_config *cfg);

/*
 * The scalar parameter names, in the order hg_config_to_json writes them
 * (the two arrays, "split_ratios" and "fixed_receivers", follow them).
 */
int			hg_config_param_count(void);
const char *hg_config_param_name(int k);

/* ------------------------------------------------------------------------
 * One kept sample
 * ------------------------------------------------------------------------ */

typedef struct hg_reception
{
	int			rx_idx;
	char		rx_name[HG_RX_NAME_LEN];
	double		lat_deg;
	double		lon_deg;
	double		alt_m;			/* antenna altitude above sea level */
	hg_antenna_kind antenna;
	double		antenna_gain_dbi;	/* gain towards the transmitter */
	double		distance_m;		/* 3-D straight line, TX antenna to RX antenna */
	double		delay_s;		/* exactly distance_m / HG_SPEED_OF_LIGHT */
	double		rx_power_dbm;
	double		snr_db;			/* rx_power_dbm - noise_floor_dbm */
	double		freq_offset_hz; /* as it appears in this reception's IQ */
	bool		signal_present; /* snr_db >= min_snr_db */
	int			n_echoes;
	float	   *iq;				/* 2 * n_iq floats, I then Q (cf32_le) */
} hg_reception;

typedef struct hg_sample
{
	uint64_t	sample_idx;		/* the attempt index */
	double		tx_lat_deg;
	double		tx_lon_deg;
	double		tx_alt_m;		/* antenna altitude above sea level */
	double		tx_power_dbm;
	double		frequency_hz;
	hg_modulation modulation;
	hg_content	content;
	double		gdop;
	double		mean_snr_db;	/* over the detected receivers */
	int			n_receivers;
	int			n_detected;
	int			n_iq;			/* complex samples per reception */
	hg_reception rx[HG_MAX_RECEIVERS];
} hg_sample;

/* ------------------------------------------------------------------------
 * Workspace and the attempt
 * ------------------------------------------------------------------------ */

typedef struct hg_workspace hg_workspace;

/* Allocate everything attempts under cfg will need.  NULL if out of memory. */
hg_workspace *hg_workspace_create(const hg_config *cfg);
void		hg_workspace_destroy(hg_workspace *ws);

/* Bytes the workspace reserved: what attempts in it may touch, at most. */
size_t		hg_workspace_bytes(const hg_workspace *ws);

/* Receptions whose IQ this workspace has synthesised (rejections add none). */
uint64_t	hg_workspace_receptions_synthesized(const hg_workspace *ws);

/*
 * Let another thread cut short the attempts run in this workspace: once
 * abandon(arg) is true (asked between receivers, from the thread running
 * the attempt, so it must be safe to call from there: an atomic read),
 * hg_attempt_ex returns early with an incomplete sample that must be
 * thrown away.  For results nobody will read, as those computed ahead when
 * a job stops.  NULL (the default) never abandons.
 */
typedef bool (*hg_abandon_fn) (const void *arg);
void		hg_workspace_abandon_when(hg_workspace *ws, hg_abandon_fn abandon, const void *arg);

/*
 * Run attempt attempt_idx of the dataset with this seed.  Returns HG_KEPT
 * and fills *out (whose iq pointers point into ws, valid until the next
 * call) or returns the rejection reason, having synthesised no IQ when the
 * geometry and link budget alone decide.
 */
hg_outcome	hg_attempt(const hg_config *cfg, uint64_t seed, uint64_t attempt_idx,
					   hg_workspace *ws, hg_sample *out);

/*
 * hg_attempt with flags.  HG_ATTEMPT_LABELS_ONLY decides geometry, link
 * budget, filter and every label exactly as the full attempt does (every
 * field of hg_sample and hg_reception is bit-identical to it, except that
 * iq is NULL) but synthesises no waveform and no IQ: it costs little more
 * than a rejected attempt.  For virtual datasets: store the labels of a
 * labels-only run, regenerate a sample's IQ later with hg_attempt (flags 0)
 * for the same (cfg, seed, attempt), which gives the same bytes whatever
 * the workspace ran before.
 */
#define HG_ATTEMPT_LABELS_ONLY 0x1u

hg_outcome	hg_attempt_ex(const hg_config *cfg, uint64_t seed, uint64_t attempt_idx,
						  hg_workspace *ws, hg_sample *out, unsigned flags);

/* ------------------------------------------------------------------------
 * Dataset split
 * ------------------------------------------------------------------------ */

/*
 * Which part of the dataset sample sample_idx belongs to: 0 train, 1 val,
 * 2 test.  u = a uniform double in [0, 1) from Philox4x32-10 keyed by the
 * seed, on its own stream (purpose HG_STREAM_SPLIT, attempt = sample_idx),
 * so it depends on (seed, sample_idx) alone and on no attempt's draws;
 * then 0 if u < r0, 1 if u < r0 + r1, else 2, except that a part whose
 * ratio is 0 is never returned.  ratios as hg_config_set_split_ratios
 * accepts them.
 */
int			hg_split_of(uint64_t seed, uint64_t sample_idx, const double ratios[3]);

#endif							/* HG_MODEL_H */
