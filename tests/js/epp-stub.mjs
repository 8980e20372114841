// An endpoint picker (EPP) stub for gateway tests, written independently of infergate's C code with
// @grpc/grpc-js and infergate's proto/ files. It behaves like the Gateway API Inference Extension's
// conformance EPP in FULL_DUPLEX_STREAMED mode:
//   - silent until the request body's end_of_stream (a header-only request is answered at once);
//   - picks round-robin over the endpoints given on the command line, or over the subset pinned by
//     the request header `test-epp-endpoint-selection: ip:port,ip:port`;
//   - answers request_headers with the pick in the header mutation (x-gateway-destination-endpoint,
//     content-length) and in dynamic_metadata["envoy.lb"], then streams the body back in chunks of
//     at most 62000 bytes (the last with end_of_stream);
//   - answers response_headers with `x-epp-served: <x-gateway-destination-endpoint-served>` (or
//     `fail: missing ...`), `x-epp-request-id: <x-request-id of the request>` and
//     `x-epp-saw-destination: <value>` when the request carried an x-gateway-destination-endpoint*
//     header; it streams every response body chunk back as it arrives.
// Test-only request headers: `test-epp-immediate: 429|503` answers an ImmediateResponse;
// `test-epp-destination: <value>` returns that destination verbatim (comma lists, bad values);
// `test-epp-metadata-only: 1` sends the pick in dynamic_metadata only;
// `test-epp-rewrite-response: 1` answers response body chunks with `data: {"epp":1,` in place of
// `data: {` (a picker that changes the stream); `test-epp-answer-observed: 1` answers messages
// marked observability_mode too (a picker that ignores the flag: the gateway must ignore it).
// Messages with observability_mode are otherwise never answered, as the protocol requires.
// Trailers: request_trailers are answered with an empty TrailersResponse, response_trailers with
// one setting `x-epp-trailer: seen`.
// When a call ends the stub prints one line for the tests:
//   call id=<x-request-id> rbm=<protocol_config.response_body_mode|absent> resp_headers=N
//        resp_chunks=N resp_bytes=N resp_eos=0|1 observed=N req_trailers=k:v;.. resp_trailers=k:v;.. end=<how>
//
// Usage: node epp-stub.mjs --port N [--endpoints ip:port,ip:port]   (prints "epp-stub listening on N")
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const ROOT = process.env.IG_ROOT ?? path.resolve(import.meta.dirname, '../..');
const LOAD_OPTS = { keepCase: true, enums: String, defaults: false, oneofs: true,
  includeDirs: [path.join(ROOT, 'proto'), '/usr/include'] };
const def = protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', LOAD_OPTS);
const ExternalProcessor = grpc.loadPackageDefinition(def).envoy.service.ext_proc.v3.ExternalProcessor;

const BODY_LIMIT = 62000;
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const endpoints = opt('--endpoints', '').split(',').map((s) => s.trim()).filter(Boolean);
let rr = 0;

const headerValue = (h) => (h.raw_value && h.raw_value.length > 0 ? Buffer.from(h.raw_value).toString() : h.value ?? '');
const hv = (key, value) => ({ header: { key, raw_value: Buffer.from(value) } });
// Struct values arrive as { stringValue } (proto-loader's well-known-type wrapper) or { string_value }.
const strValue = (v) => v?.stringValue ?? v?.string_value;

function pick(headers) {
  const forced = headers['test-epp-destination'];
  if (forced !== undefined) return forced;
  const pinned = headers['test-epp-endpoint-selection'];
  const set = pinned ? pinned.split(',').map((s) => s.trim()).filter(Boolean) : endpoints;
  if (set.length === 0) return '';
  return set[rr++ % set.length];
}

function processCall(call) {
  let headers = {};
  let chunks = [];
  let answered = false;
  let respStarted = false;
  const seen = { rbm: 'absent', resp_headers: 0, resp_chunks: 0, resp_bytes: 0, resp_eos: 0, observed: 0,
    req_trailers: '-', resp_trailers: '-' };
  let reported = false;
  const report = (how) => {
    if (reported) return;
    reported = true;
    const f = Object.entries(seen).map(([k, v]) => `${k}=${v}`).join(' ');
    console.log(`call id=${headers['x-request-id'] ?? '-'} ${f} end=${how}`);
  };
  const trailerText = (t) => (t?.headers ?? []).map((h) => `${h.key}:${headerValue(h)}`).join(';') || 'empty';
  const rewrite = (buf) => (headers['test-epp-rewrite-response']
    ? Buffer.from(buf.toString('latin1').replaceAll('data: {', 'data: {"epp":1,'), 'latin1') : buf);

  const answerRequest = () => {
    if (answered) return;
    answered = true;
    const imm = headers['test-epp-immediate'];
    if (imm) {
      const code = Number(imm);
      call.write({ immediate_response: { status: { code }, body: Buffer.from(`inference error: stub ${code}`),
        headers: { set_headers: [hv('x-epp-immediate', 'yes')] } } });
      call.end();
      return;
    }
    const body = Buffer.concat(chunks);
    const dest = pick(headers);
    const set = [hv('x-epp-picked', dest || 'none')];
    if (dest && !headers['test-epp-metadata-only']) set.unshift(hv('x-gateway-destination-endpoint', dest));
    if (body.length > 0) set.push(hv('content-length', String(body.length)));
    const msg = { request_headers: { response: { clear_route_cache: true, header_mutation: { set_headers: set } } } };
    if (dest) {
      // Well-known types use protobufjs's camelCase field names.
      msg.dynamic_metadata = { fields: { 'envoy.lb': { structValue: { fields: {
        'x-gateway-destination-endpoint': { stringValue: dest } } } } } };
    }
    call.write(msg);
    if (headers._eos) return;
    if (body.length === 0) {
      call.write({ request_body: { response: { body_mutation: { streamed_response: { body: Buffer.alloc(0),
        end_of_stream: true } } } } });
      return;
    }
    for (let off = 0; off < body.length; off += BODY_LIMIT) {
      const part = body.subarray(off, Math.min(off + BODY_LIMIT, body.length));
      call.write({ request_body: { response: { body_mutation: { streamed_response: { body: part,
        end_of_stream: off + BODY_LIMIT >= body.length } } } } });
    }
  };

  call.on('data', (req) => {
    if (req.protocol_config) seen.rbm = req.protocol_config.response_body_mode ?? 'NONE';
    if (req.observability_mode) {
      seen.observed++;
      if (req.response_body) {
        seen.resp_chunks++;
        seen.resp_bytes += req.response_body.body?.length ?? 0;
        if (req.response_body.end_of_stream) seen.resp_eos = 1;
      } else if (req.response_headers) {
        seen.resp_headers++;
      } else if (req.response_trailers) {
        seen.resp_trailers = trailerText(req.response_trailers.trailers);
      }
      if (!headers['test-epp-answer-observed']) return;
      req = { ...req, observed_answer: true };
    }
    if (req.request_headers) {
      for (const h of req.request_headers.headers?.headers ?? []) headers[h.key] = headerValue(h);
      headers._eos = !!req.request_headers.end_of_stream;
      if (headers._eos) answerRequest();
    } else if (req.request_body) {
      if (req.request_body.body) chunks.push(Buffer.from(req.request_body.body));
      if (req.request_body.end_of_stream) answerRequest();
    } else if (req.request_trailers) {
      seen.req_trailers = trailerText(req.request_trailers.trailers);
      answerRequest();
      call.write({ request_trailers: {} });
    } else if (req.response_headers) {
      respStarted = true;
      if (!req.observed_answer) seen.resp_headers++;
      const lb = req.metadata_context?.filter_metadata?.['envoy.lb'];
      const served = strValue(lb?.fields?.['x-gateway-destination-endpoint-served']);
      const note = lb === undefined ? 'fail: missing envoy lb metadata'
        : served === undefined ? 'fail: missing destination endpoint served metadata' : served;
      const set = [hv('x-epp-served', note)];
      if (headers['x-request-id'] !== undefined) set.push(hv('x-epp-request-id', headers['x-request-id']));
      const saw = Object.keys(headers).filter((k) => k.startsWith('x-gateway-destination-endpoint'));
      if (saw.length > 0) set.push(hv('x-epp-saw-destination', saw.join(',')));
      call.write({ response_headers: { response: { header_mutation: { set_headers: set } } } });
      if (req.response_headers.end_of_stream) call.end();
    } else if (req.response_body) {
      const body = Buffer.from(req.response_body.body ?? Buffer.alloc(0));
      if (!req.observed_answer) {
        seen.resp_chunks++;
        seen.resp_bytes += body.length;
        if (req.response_body.end_of_stream) seen.resp_eos = 1;
      }
      call.write({ response_body: { response: { body_mutation: { streamed_response: {
        body: rewrite(body), end_of_stream: !!req.response_body.end_of_stream } } } } });
    } else if (req.response_trailers) {
      if (!req.observed_answer) seen.resp_trailers = trailerText(req.response_trailers.trailers);
      call.write({ response_trailers: { header_mutation: { set_headers: [hv('x-epp-trailer', 'seen')] } } });
    }
  });
  call.on('end', () => {
    report('half-close');
    if (!respStarted) answerRequest();
    call.end();
  });
  call.on('cancelled', () => report('cancelled'));
  call.on('error', () => report('error'));
}

const server = new grpc.Server();
server.addService(ExternalProcessor.service, { Process: processCall });
server.bindAsync(`127.0.0.1:${opt('--port', '0')}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(`epp-stub: ${err.message}`);
    process.exit(1);
  }
  console.log(`epp-stub listening on ${port} endpoints=${endpoints.join(',')}`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
