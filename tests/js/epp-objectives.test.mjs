// `infergate epp --objectives-file`: InferenceObjectives and InferenceModelRewrites without
// Kubernetes, driven by an Envoy-like ext_proc client (@grpc/grpc-js). Two `infergate sim`
// replicas run one sequence at a time, slowly; loading each with queued requests saturates the
// pool for the default utilization detector (mean of queue/5 >= 1). Then a request whose
// x-gateway-inference-objective names a sheddable objective (priority -1) gets ImmediateResponse
// 429, while priority 0 (no header, an unknown objective, a priority-0 objective) still gets a
// pick. Before the load the same sheddable request is picked. Also: a model rewritten by an
// InferenceModelRewrite (body and metric), a generated x-request-id, and the new metric families.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import path from 'node:path';
import { killChildren, startSim, startEpp, untilReady, metricsPage as page, until as untilOn, hdr, setHeaders,
  newClient } from './lib/ext-proc-client.mjs';

const OBJECTIVES = `# objectives and rewrites for the test pool
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: {name: batch}
spec: {priority: -1, poolRef: {name: pool}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: {name: standard}
spec: {priority: 0, poolRef: {name: pool}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModelRewrite
metadata: {name: alias-to-m1}
spec:
  poolRef: {name: pool}
  rules:
  - matches: [{model: {type: Exact, value: alias}}]
    targets: [{modelRewrite: m1, weight: 100}]
`;

const loads = [];
let sims = [];
let epp;
let tmp;

after(() => {
  for (const r of loads) r.destroy();
  killChildren();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const metricsPage = () => page(epp.metrics);
const until = (what, pred, ms) => untilOn(epp.metrics, what, pred, ms);

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ig-epp-obj-'));
  const objPath = path.join(tmp, 'objectives.yaml');
  fs.writeFileSync(objPath, OBJECTIVES);
  for (const name of ['a', 'b']) {
    sims.push(await startSim(['--id', name, '--max-num-seqs', '1', '--decode-ms', '50', '--decode-ms-per-seq', '0',
      '--prefill-overhead-ms', '0', '--prefill-ms-per-token', '0']));
  }
  epp = await startEpp(sims.map((s) => s.addr), ['--objectives-file', objPath]);
  await untilReady(epp, 2);
});

// ---- an Envoy-like client -------------------------------------------------------------------

// One request through the EPP: headers (with |extra|), the body in one chunk. Resolves with
// { pick: headers-answer headers, body: the body streamed back } or { immediate }.
async function exchange(body, extra = []) {
  const client = newClient(epp.grpc);
  const call = client.Process({ deadline: Date.now() + 10000 });
  const replies = [];
  const done = new Promise((resolve) => {
    call.on('data', (m) => {
      replies.push(m);
      const sr = m.request_body?.response?.body_mutation?.streamed_response;
      if (m.response === 'immediate_response' || sr?.end_of_stream) resolve();
    });
    call.on('status', resolve);
    call.on('error', () => {});
  });
  call.write({
    request_headers: {
      headers: { headers: [hdr(':method', 'POST'), hdr(':path', '/v1/completions'), hdr(':authority', 'gw.test'),
        hdr('content-type', 'application/json'), ...extra] },
      end_of_stream: false,
    },
    protocol_config: { request_body_mode: 'FULL_DUPLEX_STREAMED', response_body_mode: 'FULL_DUPLEX_STREAMED' },
  });
  call.write({ request_body: { body: Buffer.from(JSON.stringify(body)), end_of_stream: true } });
  await done;
  call.end();
  client.close();
  if (replies[0]?.response === 'immediate_response') return { immediate: replies[0].immediate_response };
  assert.equal(replies[0]?.response, 'request_headers', JSON.stringify(replies[0]));
  const chunks = replies.slice(1).map((m) => m.request_body.response.body_mutation.streamed_response.body);
  return { pick: setHeaders(replies[0].request_headers.response), body: Buffer.concat(chunks).toString() };
}

const completion = { model: 'm1', prompt: 'hello', max_tokens: 4 };
const objective = (name) => [hdr('x-gateway-inference-objective', name)];

function assertPicked(r, what) {
  assert.ok(r.pick, `${what}: expected a pick, got ${JSON.stringify(r.immediate)}`);
  assert.ok(sims.some((s) => s.addr === r.pick['x-gateway-destination-endpoint']), what);
}

// ---- tests ----------------------------------------------------------------------------------

test('unsaturated: every priority is picked; x-request-id generated or echoed', async () => {
  const r = await exchange(completion, objective('batch'));
  assertPicked(r, 'sheddable while idle');
  assert.match(r.pick['x-request-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const r2 = await exchange(completion, [hdr('x-request-id', 'client-id-7')]);
  assert.equal(r2.pick['x-request-id'], 'client-id-7');
});

test('InferenceModelRewrite: the body goes upstream with the target model', async () => {
  const r = await exchange({ ...completion, model: 'alias' });
  assertPicked(r, 'rewritten');
  assert.equal(JSON.parse(r.body).model, 'm1');
  // The header still wins over the rewrite resource.
  const h = await exchange({ ...completion, model: 'alias' }, [hdr('x-gateway-model-name-rewrite', 'm2')]);
  assert.equal(JSON.parse(h.body).model, 'm2');
  const page = await metricsPage();
  assert.match(page, /^inference_extension_model_rewrite_decisions_total\{model_rewrite_name="alias-to-m1",model_name="alias",target_model="m1"\} 1$/m);
  assert.match(page, /^inference_objective_request_total\{model_name="alias",target_model_name="m1",priority="0"\} 1$/m);
});

test('prefix-cache hit ratio and bytes of the picked endpoint', async () => {
  // 640 characters: ten 64-character blocks; the second identical prompt matches all ten.
  const long = { model: 'm1', prompt: 'The quick brown fox jumps over the lazy dog. '.repeat(15).slice(0, 640),
    max_tokens: 1 };
  const first = await exchange(long);
  const second = await exchange(long);
  assert.equal(second.pick['x-gateway-destination-endpoint'], first.pick['x-gateway-destination-endpoint']);
  const page = await metricsPage();
  assert.match(page, /^inference_extension_prefix_indexer_hit_ratio_count 2$/m);
  assert.match(page, /^inference_extension_prefix_indexer_hit_ratio_sum 1$/m);
  assert.match(page, /^inference_extension_prefix_indexer_hit_ratio_bucket\{le="0.9"\} 1$/m);
  assert.match(page, /^inference_extension_prefix_indexer_hit_bytes_sum 640$/m);
});

test('saturated pool: sheddable gets 429, priority 0 is still picked', async () => {
  // Seven slow requests per replica: one runs, six wait (queue/5 > 1 on both).
  for (const s of sims) {
    for (let i = 0; i < 7; i++) {
      const req = http.request({ host: '127.0.0.1', port: s.port, path: '/v1/completions', method: 'POST',
        agent: false, headers: { 'content-type': 'application/json' } }, (res) => res.resume());
      req.on('error', () => {});
      req.end(JSON.stringify({ model: 'm1', prompt: 'load', max_tokens: 400, ignore_eos: true }));
      loads.push(req);
    }
  }
  await until('both queues >= 5', (p) => sims.every((s) => new RegExp(
    `inference_pool_per_pod_queue_size\\{model_server_pod="${s.addr}",name="[^"]*"\\} ([5-9]|\\d\\d)`).test(p)));

  const shed = await exchange(completion, objective('batch'));
  assert.ok(shed.immediate, 'sheddable request is rejected');
  assert.equal(shed.immediate.status.code, 'TooManyRequests');
  assert.equal(shed.immediate.body.toString(),
    'inference error: ResourceExhausted - system saturated, sheddable request dropped');

  assertPicked(await exchange(completion), 'no objective header');
  assertPicked(await exchange(completion, objective('standard')), 'priority 0 objective');
  assertPicked(await exchange(completion, objective('no-such-objective')), 'unknown objective is priority 0');

  const page = await metricsPage();
  assert.match(page, /^inference_objective_request_error_total\{model_name="m1",target_model_name="m1",error_code="ResourceExhausted"\} 1$/m);
  assert.match(page, /^inference_objective_request_total\{model_name="m1",target_model_name="m1",priority="-1"\} 1$/m);
});

test('build info and scheduler attempt metrics', async () => {
  const page = await metricsPage();
  assert.match(page, /^inference_extension_info\{commit="[^"]*",build_ref="[^"]*"\} 1$/m);
  const attempts = [...page.matchAll(/^inference_extension_scheduler_attempts_total\{status="success",target_model_name="m1",pod_name="([^"]+)",namespace="[^"]*",port="(\d+)"\} (\d+)$/gm)];
  assert.ok(attempts.length >= 1, 'success attempts per endpoint');
  for (const [, pod, port] of attempts) assert.ok(sims.some((s) => s.addr === pod && String(s.port) === port));
  assert.doesNotMatch(page, /status="failure"/, 'shedding is not a scheduling attempt');
  // Per-plugin durations with microsecond buckets, for each extension point of the default profile.
  for (const [point, type] of [['Scorer', 'queue-scorer'],
    ['Scorer', 'kv-cache-utilization-scorer'], ['Scorer', 'prefix-cache-scorer'], ['Picker', 'max-score-picker']]) {
    const re = new RegExp(`^inference_extension_plugin_duration_seconds_count\\{extension_point="${point}",plugin_type="${type}",plugin_name="[^"]+"\\} ([1-9]\\d*)$`, 'm');
    assert.match(page, re, `${point} ${type}`);
  }
  assert.match(page, /^inference_extension_plugin_duration_seconds_bucket\{[^}]*le="1e-06"\} \d+$/m);
});
