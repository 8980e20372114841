// Renders the per-arm `infergate bench --json` reports of one routing-quality workload as a markdown
// table (one row per arm and rate) and the ratios to the round-robin arm at the highest rate.
// Usage: node bench/routing-table.mjs TITLE DIR ARM...   (reads DIR/ARM.json)
import fs from "node:fs";

const [title, dir, ...arms] = process.argv.slice(2);
if (!title || !dir || arms.length === 0) {
    console.error("usage: node bench/routing-table.mjs TITLE DIR ARM...");
    process.exit(2);
}
const reports = Object.fromEntries(arms.map((a) => [a, JSON.parse(fs.readFileSync(`${dir}/${a}.json`, "utf8"))]));

const ms = (v) => {
    if (v === null || v === undefined) return "n/a";
    if (v >= 10000) return `${(v / 1000).toFixed(1)} s`;
    if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
    return `${v.toFixed(v >= 100 ? 0 : 1)} ms`;
};
const num = (v, d = 0) => (v === null || v === undefined ? "n/a" : v.toFixed(d));
const pct = (a, b) => (b > 0 ? `${((100 * a) / b).toFixed(0)}%` : "n/a");
const shares = (st) => {
    const v = Object.values(st.replicas || {}).map((r) => r.share);
    if (v.length === 0) return "n/a";
    return `${v.length} × ${(100 * Math.min(...v)).toFixed(0)}–${(100 * Math.max(...v)).toFixed(0)}%`;
};
const failures = (st) => {
    const f = Object.entries(st.failures || {});
    return f.length === 0 ? "0" : f.map(([k, n]) => `${n} ${k}`).join(", ");
};

console.log(`### ${title}\n`);
console.log(
    "| arm | rate (req/s) | ok / sent | output tok/s | TTFT p50 | TTFT p90 | ITL p50 | TPOT p50 | E2E p90 | prompt cached | replicas (min–max share) | failures |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const a of arms) {
    for (const st of reports[a].stages) {
        console.log(
            `| ${a} | ${st.rate} | ${st.requests.succeeded} / ${st.requests.sent} | ${num(st.throughput.output_tokens_per_s)} | ` +
                `${ms(st.ttft_ms.p50)} | ${ms(st.ttft_ms.p90)} | ${ms(st.itl_ms.p50)} | ${ms(st.tpot_ms.p50)} | ` +
                `${ms(st.e2e_ms.p90)} | ${pct(st.tokens.cached, st.tokens.input)} | ${shares(st)} | ${failures(st)} |`,
        );
    }
}

// Ratios at the highest rate (the last stage), against round robin when it ran.
const last = (a) => reports[a].stages[reports[a].stages.length - 1];
const lines = [];
const ratio = (x, y) => (x > 0 && y > 0 ? x / y : null);
const fmt = (r) => (r === null ? "n/a" : r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`);
if (reports.rr) {
    const rr = last("rr");
    for (const a of arms) {
        if (a === "rr") continue;
        const s = last(a);
        lines.push(
            `- ${a} vs rr at ${s.rate} req/s: output tok/s ${num(rr.throughput.output_tokens_per_s)} → ` +
                `${num(s.throughput.output_tokens_per_s)} (${fmt(ratio(s.throughput.output_tokens_per_s, rr.throughput.output_tokens_per_s))}); ` +
                `TTFT p90 ${ms(rr.ttft_ms.p90)} → ${ms(s.ttft_ms.p90)} (rr / ${a} = ${fmt(ratio(rr.ttft_ms.p90, s.ttft_ms.p90))}); ` +
                `TTFT p50 ${ms(rr.ttft_ms.p50)} → ${ms(s.ttft_ms.p50)}`,
        );
    }
}
if (reports.best && reports.default) {
    const b = last("best"),
        d = last("default");
    lines.push(
        `- best vs default at ${b.rate} req/s: TTFT p90 ${ms(d.ttft_ms.p90)} → ${ms(b.ttft_ms.p90)} ` +
            `(default / best = ${fmt(ratio(d.ttft_ms.p90, b.ttft_ms.p90))}); output tok/s ` +
            `${num(d.throughput.output_tokens_per_s)} → ${num(b.throughput.output_tokens_per_s)} ` +
            `(${fmt(ratio(b.throughput.output_tokens_per_s, d.throughput.output_tokens_per_s))})`,
    );
}
if (lines.length) console.log(`\n${lines.join("\n")}`);
