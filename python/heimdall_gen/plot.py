"""One figure of a sample, as a direction-finding engineer wants to see it.

    map              receivers (filled: detected, hollow: not) and the
                     transmitter, a line to each with its distance, the area
    spectrograms     one per receiver, titled with its power and SNR
    cross-corr.      |xcorr| of each receiver with the reference (the best SNR)
                     after removing each one's labelled frequency offset; the
                     labelled TDOA (delay_i - delay_ref) marked on each curve
    constellation    PSK: after an RRC matched filter, symbol timing and a
                     phase from the M-th power; otherwise the instantaneous
                     frequency of the reference receiver

The figure is always FIG_SIZE_PX pixels.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FIG_SIZE_IN = (16.0, 12.0)
DPI = 100
FIG_SIZE_PX = (int(FIG_SIZE_IN[0] * DPI), int(FIG_SIZE_IN[1] * DPI))

# Text from the database (receiver names, which are any 1-31 bytes a user
# gave; dataset names, which a dump restore or 0.1.0 may fill with anything;
# labels) is drawn as written: never parsed as mathtext, where '$\foo{$'
# failed the whole plot and '$x^{2}$' was drawn as a formula, nor handed to
# LaTeX by a matplotlibrc with text.usetex.  Passed to every text call.
LITERAL = {"parse_math": False, "usetex": False}


def _rrc(beta: float, sps: float, span: int) -> np.ndarray:
    t = np.arange(-span * sps, span * sps + 1) / sps
    h = np.empty_like(t)
    for i, x in enumerate(t):
        if abs(x) < 1e-9:
            h[i] = 1 - beta + 4 * beta / math.pi
        elif beta > 0 and abs(abs(4 * beta * x) - 1) < 1e-9:
            h[i] = beta / math.sqrt(2) * ((1 + 2 / math.pi) * math.sin(math.pi / (4 * beta))
                                          + (1 - 2 / math.pi) * math.cos(math.pi / (4 * beta)))
        else:
            h[i] = (math.sin(math.pi * x * (1 - beta)) + 4 * beta * x * math.cos(math.pi * x * (1 + beta))) \
                   / (math.pi * x * (1 - (4 * beta * x) ** 2))
    return h / np.sqrt(np.sum(h ** 2))


def constellation(x: np.ndarray, fs: float, symbol_rate: float, beta: float, order: int) -> np.ndarray:
    """Symbols of a PSK reception (frequency offset already removed)."""
    sps = fs / symbol_rate
    y = np.convolve(x, _rrc(beta, sps, 6), mode="same")
    n_sym = int(len(y) / sps) - 1
    best, best_off = None, 0.0
    t_idx = np.arange(len(y))
    for off in np.linspace(0, sps, 16, endpoint=False):
        t = off + sps * np.arange(n_sym)
        s = np.interp(t, t_idx, y.real) + 1j * np.interp(t, t_idx, y.imag)
        m = np.abs(s)
        score = np.var(m) / max(np.mean(m) ** 2, 1e-30)     # constant modulus at the right instants
        if best is None or score < best:
            best, best_off = score, off
    t = best_off + sps * np.arange(n_sym)
    s = np.interp(t, t_idx, y.real) + 1j * np.interp(t, t_idx, y.imag)
    s = s[6:-6] if len(s) > 24 else s                      # filter edges
    phase = np.angle(np.sum(s ** order)) / order
    s = s * np.exp(-1j * phase)
    return s / max(np.sqrt(np.mean(np.abs(s) ** 2)), 1e-30)


def plot_sample(sample, params: dict, path: str = None):
    """Draws the figure of a heimdall_gen Sample; writes it to path if given; returns the Figure."""
    fs = float(params["sample_rate_hz"])
    n_rx, n = sample.iq.shape
    rx = sample.receptions
    lab = sample.labels
    t = np.arange(n) / fs
    fig = plt.figure(figsize=FIG_SIZE_IN, dpi=DPI)
    fig.suptitle(f"{sample.dataset} sample {sample.sample_idx}: {lab['modulation'].upper()} ({lab['content']}) at "
                 f"{lab['frequency_hz'] / 1e6:.4f} MHz, {lab['tx_power_dbm']:.0f} dBm, {n_rx} receivers "
                 f"({lab['n_detected']} detected), GDOP {lab['gdop']:.2f}, split {lab.get('split')}",
                 fontsize=13, **LITERAL)
    cols = 4
    rows_spec = math.ceil(n_rx / cols)
    gs = fig.add_gridspec(2 + rows_spec, cols, height_ratios=[1.5, 1.5] + [1] * rows_spec,
                          hspace=0.65, wspace=0.3, left=0.05, right=0.98, top=0.93, bottom=0.04)

    # -- map ------------------------------------------------------------------
    ax = fig.add_subplot(gs[0:2, 0:2])
    ax.set_title("map: receivers and transmitter")
    coslat = math.cos(math.radians(lab["tx_lat"]))
    a = params
    ax.add_patch(plt.Rectangle((a["area_lon_min"], a["area_lat_min"]), a["area_lon_max"] - a["area_lon_min"],
                               a["area_lat_max"] - a["area_lat_min"], fill=False, ls="--", color="grey",
                               label="receiver area"))
    for r in rx:
        det = r["signal_present"]
        ax.plot([r["rx_lon"], lab["tx_lon"]], [r["rx_lat"], lab["tx_lat"]], color="tab:green" if det else "lightgrey",
                lw=0.8, zorder=1)
        ax.scatter(r["rx_lon"], r["rx_lat"], s=70, marker="^", zorder=3,
                   facecolor="tab:green" if det else "white", edgecolor="tab:green" if det else "grey")
        mid = ((r["rx_lon"] + lab["tx_lon"]) / 2, (r["rx_lat"] + lab["tx_lat"]) / 2)
        ax.annotate(f"{r['distance_m'] / 1e3:.0f} km", mid, fontsize=7, color="dimgrey", **LITERAL)
        ax.annotate(f"{r['rx_idx']} {r['rx_name']}\n{r['snr_db']:.0f} dB", (r["rx_lon"], r["rx_lat"]), fontsize=8,
                    xytext=(5, 4), textcoords="offset points", **LITERAL)
    ax.scatter(lab["tx_lon"], lab["tx_lat"], s=220, marker="*", color="tab:red", zorder=4, label="transmitter")
    ax.scatter([], [], marker="^", facecolor="tab:green", edgecolor="tab:green", label="receiver, detected")
    ax.scatter([], [], marker="^", facecolor="white", edgecolor="grey", label="receiver, not detected")
    ax.set_aspect(1 / coslat)
    ax.set_xlabel("longitude [deg]")
    ax.set_ylabel("latitude [deg]")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)

    # -- cross-correlation with the reference -----------------------------------
    ref = int(np.argmax([r["snr_db"] for r in rx]))
    clean = np.stack([sample.iq[k] * np.exp(-2j * np.pi * rx[k]["freq_offset_hz"] * t) for k in range(n_rx)])
    ax = fig.add_subplot(gs[0, 2:4])
    ax.set_title(f"cross-correlation with rx{ref} (ref.), labelled TDOA marked")
    nfft = 1 << (2 * n - 1).bit_length()
    F = np.fft.fft(clean, nfft, axis=1)
    tdoa = np.array([(r["delay_s"] - rx[ref]["delay_s"]) * fs for r in rx])      # samples
    span = int(max(np.max(np.abs(tdoa)) * 1.3, 20))
    lags = np.arange(-span, span + 1)
    cmap = plt.get_cmap("tab10")
    for k in range(n_rx):
        c = np.fft.ifft(F[k] * np.conj(F[ref]))
        c = np.abs(np.concatenate([c[-span:], c[:span + 1]]))
        c /= max(c.max(), 1e-30)
        ax.plot(lags / fs * 1e6, c + k, color=cmap(k % 10), lw=1)
        ax.plot([tdoa[k] / fs * 1e6] * 2, [k, k + 1.05], color=cmap(k % 10), ls="--", lw=1.5)
        ax.text(lags[-1] / fs * 1e6, k + 0.5, f" rx{k}", fontsize=7, va="center", **LITERAL)
    ax.set_xlabel("lag [us] (dashed: labelled delay_i - delay_ref)")
    ax.set_yticks([])

    # -- constellation / instantaneous frequency ----------------------------------
    ax = fig.add_subplot(gs[1, 2])
    mod = lab["modulation"]
    if mod in ("bpsk", "qpsk"):
        order = 2 if mod == "bpsk" else 4
        s = constellation(clean[ref], fs, float(params["symbol_rate_hz"]), float(params["rrc_rolloff"]), order)
        ax.scatter(s.real, s.imag, s=4, alpha=0.6)
        ax.set_title(f"constellation rx{ref}, after matched filter ({mod.upper()})", **LITERAL)
        ax.set_aspect("equal")
        ax.set_xlim(-2, 2)
        ax.set_ylim(-2, 2)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
    else:
        f_inst = np.angle(clean[ref][1:] * np.conj(clean[ref][:-1])) * fs / (2 * np.pi)
        ax.plot(t[1:] * 1e3, f_inst / 1e3, lw=0.5)
        ax.set_title(f"instantaneous frequency rx{ref} ({mod.upper()}: no constellation)", **LITERAL)
        ax.set_xlabel("time [ms]")
        ax.set_ylabel("kHz")

    # -- received power per receiver (measured vs labelled) -----------------------------
    ax = fig.add_subplot(gs[1, 3])
    meas = 10 * np.log10(np.mean(np.abs(sample.iq) ** 2, axis=1))
    labelled = np.array([r["rx_power_dbm"] for r in rx])
    # the bars rise from the axis' floor: drawn from 0 dBm, every value is
    # negative and the weakest receiver would get the longest bar
    floor = min(meas.min(), labelled.min()) - 5
    ax.bar(np.arange(n_rx) - 0.2, labelled - floor, 0.4, bottom=floor, label="rx_power_dbm (label)")
    ax.bar(np.arange(n_rx) + 0.2, meas - floor, 0.4, bottom=floor, label="10 log10 mean|iq|^2")
    ax.set_title("received power per receiver [dBm]")
    ax.set_xticks(np.arange(n_rx))
    ax.set_xticklabels([f"rx{k}" for k in range(n_rx)], fontsize=7)
    ax.set_ylim(floor, max(meas.max(), labelled.max()) + 5)
    ax.legend(fontsize=7)

    # -- spectrograms --------------------------------------------------------------
    nfft_s = int(min(256, max(16, 2 ** int(math.log2(max(n // 16, 16))))))
    for k in range(n_rx):
        ax = fig.add_subplot(gs[2 + k // cols, k % cols])
        ax.specgram(sample.iq[k], NFFT=nfft_s, Fs=fs / 1e3, noverlap=nfft_s // 2, cmap="viridis",
                    scale="dB", mode="psd", sides="twosided")
        r = rx[k]
        ax.set_title(f"spectrogram rx{k} {r['rx_name']}: {r['rx_power_dbm']:.1f} dBm, SNR {r['snr_db']:.1f} dB"
                     + ("" if r["signal_present"] else " (not detected)"), fontsize=8, **LITERAL)
        ax.set_xlabel("time [ms]", fontsize=7)
        ax.set_ylabel("kHz", fontsize=7)
        ax.tick_params(labelsize=6)
    if path:
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
    return fig
