// Interop: infergate's gRPC transport against the independent @grpc/grpc-js implementation.
//  - grpc-js client -> infergate server ($IG_GRPC_HEALTH_SERVER, tests/grpc/grpc_health_server.c):
//    grpc.health.v1.Health/Check (SERVING for "" and a registered name, NOT_SERVING, NOT_FOUND for
//    an unknown one), List, Watch answered UNIMPLEMENTED, a bidi stream in lock step, over h2c
//    and over TLS.
//  - infergate client ($IG_GRPC_TEST_CLIENT, tests/grpc/grpc_test_client.c) -> grpc-js server:
//    Check, a bidi stream of many messages, a deadline (grpc-timeout seen by grpc-js), over h2c
//    and over TLS with and without certificate verification.
// The programs are built with the tests (cmake/tests.cmake); without the environment variables
// they are looked up next to $IG_BIN. Every child is bounded in time and stopped by the test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const ROOT = process.env.IG_ROOT ?? path.resolve(import.meta.dirname, '../..');
const BUILD = process.env.IG_BIN ? path.dirname(process.env.IG_BIN) : path.join(ROOT, 'build');
const SERVER_BIN = process.env.IG_GRPC_HEALTH_SERVER ?? path.join(BUILD, 'grpc_health_server');
const CLIENT_BIN = process.env.IG_GRPC_TEST_CLIENT ?? path.join(BUILD, 'grpc_test_client');

const healthDef = protoLoader.loadSync(path.join(ROOT, 'proto/grpc/health/v1/health.proto'), {
  keepCase: true,
  enums: String,
  defaults: true,
});
const Health = grpc.loadPackageDefinition(healthDef).grpc.health.v1.Health;

// /test.Echo/*: raw bytes in and out, no schema needed on either side.
const raw = { requestSerialize: (b) => b, requestDeserialize: (b) => b, responseSerialize: (b) => b,
  responseDeserialize: (b) => b };
const echoService = {
  Bidi: { path: '/test.Echo/Bidi', requestStream: true, responseStream: true, ...raw },
  Slow: { path: '/test.Echo/Slow', requestStream: false, responseStream: false, ...raw },
};
const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');

let tmp;
let cert;
let key;
const children = [];

before(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'ig-grpc-'));
  cert = path.join(tmp, 'cert.pem');
  key = path.join(tmp, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
  { stdio: 'ignore', timeout: 10000 });
});

after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

// Starts grpc_health_server; resolves with { port, stop } once it printed its port.
function startServer(extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(SERVER_BIN, ['--lifetime', '60', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 5000);
    child.on('error', reject);
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
        resolve({
          port: Number(m[1]),
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
  });
}

function check(client, service) {
  return new Promise((resolve) => {
    client.Check({ service }, { deadline: Date.now() + 5000 }, (err, resp) => resolve({ err, resp }));
  });
}

async function checkAll(client) {
  let r = await check(client, '');
  assert.equal(r.err, null);
  assert.equal(r.resp.status, 'SERVING');
  r = await check(client, 'readiness');
  assert.equal(r.err, null);
  assert.equal(r.resp.status, 'SERVING');
  r = await check(client, 'warming');
  assert.equal(r.err, null);
  assert.equal(r.resp.status, 'NOT_SERVING');
  r = await check(client, 'no-such-service');
  assert.equal(r.err?.code, grpc.status.NOT_FOUND);
}

test('grpc-js client: Health/Check, List, Watch and a bidi stream against infergate (h2c)', async () => {
  const srv = await startServer();
  const addr = `127.0.0.1:${srv.port}`;
  const client = new Health(addr, grpc.credentials.createInsecure());
  try {
    await checkAll(client);

    const list = await new Promise((resolve) => client.List({}, (err, resp) => resolve({ err, resp })));
    assert.equal(list.err, null);
    assert.deepEqual(Object.keys(list.resp.statuses).sort(), ['', 'readiness', 'warming']);
    assert.equal(list.resp.statuses.warming.status, 'NOT_SERVING');

    const watch = await new Promise((resolve) => {
      const call = client.Watch({ service: '' });
      call.on('data', () => {});
      call.on('error', (e) => resolve(e.code));
      call.on('end', () => resolve('end'));
    });
    assert.equal(watch, grpc.status.UNIMPLEMENTED);

    // Lock step: request n+1 leaves only after reply n arrived, so nothing may wait for the end.
    const echo = new EchoClient(addr, grpc.credentials.createInsecure());
    const N = 100;
    const got = await new Promise((resolve, reject) => {
      const call = echo.Bidi({ deadline: Date.now() + 10000 });
      const replies = [];
      call.on('data', (d) => {
        replies.push(d.toString());
        if (replies.length < N) call.write(Buffer.from(`m${replies.length}`));
        else call.end();
      });
      call.on('error', reject);
      call.on('status', (s) => resolve({ replies, status: s }));
      call.write(Buffer.from('m0'));
    });
    assert.equal(got.status.code, grpc.status.OK);
    assert.equal(got.status.details, 'done');
    assert.equal(got.replies.length, N);
    got.replies.forEach((r, i) => assert.equal(r, `m${i}`));
    echo.close();
  } finally {
    client.close();
    const ex = await srv.stop();
    assert.equal(ex.code, 0);
  }
});

test('grpc-js client: Health/Check against infergate over TLS (ALPN h2)', async () => {
  const srv = await startServer(['--tls', cert, key]);
  const creds = grpc.credentials.createSsl(readFileSync(cert));
  const client = new Health(`localhost:${srv.port}`, creds);
  try {
    await checkAll(client);
  } finally {
    client.close();
    await srv.stop();
  }
});

// ---- the reverse: infergate's client against a grpc-js server ----------------------------------

function runClient(args) {
  return new Promise((resolve, reject) => {
    execFile(CLIENT_BIN, args, { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

async function startJsServer(creds) {
  const seen = { deadline: null };
  const server = new grpc.Server();
  server.addService(Health.service, {
    Check: (call, cb) => {
      const s = call.request.service;
      if (s === '' || s === 'readiness') cb(null, { status: 'SERVING' });
      else if (s === 'warming') cb(null, { status: 'NOT_SERVING' });
      else cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
    },
  });
  server.addService(echoService, {
    Bidi: (call) => {
      call.on('data', (d) => call.write(d));
      call.on('end', () => call.end());
    },
    Slow: (call) => {
      seen.deadline = call.getDeadline();
      /* never answers: the client's deadline ends the call */
    },
  });
  const port = await new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { server, port, seen };
}

// "k=v k=v ... message=free text": the message is last and may hold spaces.
function parse(line) {
  const i = line.indexOf(' message=');
  const head = i >= 0 ? line.slice(0, i) : line;
  const out = Object.fromEntries(head.split(' ').map((kv) => kv.split('=')).map(([k, ...v]) => [k, v.join('=')]));
  out.message = i >= 0 ? line.slice(i + ' message='.length) : '';
  return out;
}

test('infergate client: Check, bidi and deadline against a grpc-js server (h2c)', async () => {
  const { server, port, seen } = await startJsServer(grpc.ServerCredentials.createInsecure());
  const addr = ['--addr', `127.0.0.1:${port}`];
  try {
    let r = parse(await runClient([...addr, 'check', '']));
    assert.equal(r.status, '0');
    assert.equal(r.serving, '1');
    r = parse(await runClient([...addr, 'check', 'warming']));
    assert.equal(r.status, '0');
    assert.equal(r.serving, '2');
    r = parse(await runClient([...addr, 'check', 'nope']));
    assert.equal(r.status, String(grpc.status.NOT_FOUND));
    assert.equal(r.message, 'unknown service');

    r = parse(await runClient([...addr, 'bidi', '2000']));
    assert.equal(r.status, '0');
    assert.equal(r.count, '2000');
    assert.equal(r.intact, '1');

    const t0 = Date.now();
    r = parse(await runClient([...addr, 'slow', '300']));
    assert.equal(r.status, String(grpc.status.DEADLINE_EXCEEDED));
    assert.ok(Number(r.elapsed_ms) >= 290 && Number(r.elapsed_ms) < 5000, r.elapsed_ms);
    // grpc-js parsed our grpc-timeout: its deadline lies about 300 ms after the call started.
    assert.ok(seen.deadline instanceof Date || typeof seen.deadline === 'number');
    const dl = Number(seen.deadline) - t0;
    assert.ok(dl > 0 && dl < 5000, `deadline ${dl} ms after start`);
  } finally {
    server.forceShutdown();
  }
});

test('infergate client: Check against a grpc-js server over TLS, verified and not', async () => {
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(cert),
    private_key: readFileSync(key) }], false);
  const { server, port } = await startJsServer(creds);
  try {
    let r = parse(await runClient(['--addr', `127.0.0.1:${port}`, '--tls', 'check', 'readiness']));
    assert.equal(r.status, '0');
    assert.equal(r.serving, '1');
    r = parse(await runClient(['--addr', `127.0.0.1:${port}`, '--tls', '--ca', cert, '--sni', 'localhost',
      'check', 'readiness']));
    assert.equal(r.status, '0');
    assert.equal(r.serving, '1');
    // Verification on with a name the certificate does not carry: the call fails as UNAVAILABLE.
    r = parse(await runClient(['--addr', `127.0.0.1:${port}`, '--tls', '--ca', cert, '--sni', 'wrong.example',
      'check', 'readiness']));
    assert.equal(r.status, String(grpc.status.UNAVAILABLE));
  } finally {
    server.forceShutdown();
  }
});
