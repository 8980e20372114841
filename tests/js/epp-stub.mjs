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
// `test-epp-metadata-only: 1` sends the pick in dynamic_metadata only.
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
    if (req.request_headers) {
      for (const h of req.request_headers.headers?.headers ?? []) headers[h.key] = headerValue(h);
      headers._eos = !!req.request_headers.end_of_stream;
      if (headers._eos) answerRequest();
    } else if (req.request_body) {
      if (req.request_body.body) chunks.push(Buffer.from(req.request_body.body));
      if (req.request_body.end_of_stream) answerRequest();
    } else if (req.request_trailers) {
      answerRequest();
    } else if (req.response_headers) {
      respStarted = true;
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
      call.write({ response_body: { response: { body_mutation: { streamed_response: {
        body: Buffer.from(req.response_body.body ?? Buffer.alloc(0)),
        end_of_stream: !!req.response_body.end_of_stream } } } } });
    } else if (req.response_trailers) {
      call.write({ response_trailers: {} });
    }
  });
  call.on('end', () => {
    if (!respStarted) answerRequest();
    call.end();
  });
  call.on('error', () => {});
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
