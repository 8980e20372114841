// Interop: the official OpenAI SDK for JavaScript against `infergate sim`. Chat and completions,
// streaming and not, usage (stream_options.include_usage), model, finish_reason and content. The
// test starts the simulator itself ($IG_BIN) on a free port and stops it with SIGTERM, expecting a
// clean exit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import OpenAI from 'openai';

const BIN = process.env.IG_BIN;
const MODEL = 'sdk-model';
const ADAPTER = 'sdk-lora';
let sim;
let simExit;
let client;
let log = '';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(base, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${base}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return;
    } catch {
      /* not up yet */
    }
    if (sim.exitCode !== null) throw new Error(`sim exited (${sim.exitCode}):\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sim not healthy after ${ms} ms:\n${log}`);
}

before(async () => {
  assert.ok(BIN, 'IG_BIN must point at the infergate binary');
  const port = await freePort();
  // coreutils timeout passes our SIGTERM on and bounds the simulator's life even if this process is killed
  sim = spawn('timeout', ['--foreground', '-k', '5', '120', BIN, 'sim', '--host', '127.0.0.1',
    '--port', String(port), '--model', MODEL, '--lora-modules', ADAPTER, '--decode-ms', '1',
    '--prefill-overhead-ms', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  sim.stdout.on('data', (d) => { log += d; });
  sim.stderr.on('data', (d) => { log += d; });
  simExit = new Promise((resolve) => sim.once('exit', (code, signal) => resolve({ code, signal })));
  // never leave the simulator behind, whatever happens to this process
  process.once('exit', () => { if (sim.exitCode === null) sim.kill('SIGKILL'); });
  await waitHealthy(`http://127.0.0.1:${port}`, 10000);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'x', timeout: 20000, maxRetries: 0 });
});

after(async () => {
  if (!sim || sim.exitCode !== null) return;
  sim.kill('SIGTERM');
  const timer = setTimeout(() => sim.kill('SIGKILL'), 10000);
  const { code, signal } = await simExit;
  clearTimeout(timer);
  assert.equal(signal, null, `sim killed by ${signal}:\n${log}`);
  assert.equal(code, 0, `sim exit status ${code}:\n${log}`);
});

test('models.list shows the base model and the adapter', { timeout: 20000 }, async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [MODEL, ADAPTER]);
});

test('chat.completions.create, not streaming', { timeout: 20000 }, async () => {
  const r = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say something.' }],
    max_tokens: 6,
    temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, MODEL);
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, ' the and for you not are');
  assert.equal(r.usage.completion_tokens, 6);
  assert.ok(r.usage.prompt_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 6);
});

test('chat.completions.create, streaming with include_usage', { timeout: 20000 }, async () => {
  const stream = await client.chat.completions.create({
    model: ADAPTER,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Stream, please.' }] }],
    max_completion_tokens: 9,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let role;
  let finish;
  let usage;
  let chunks = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, ADAPTER);
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    chunks++;
    const c = chunk.choices[0];
    role ??= c.delta.role;
    text += c.delta.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(chunks, 9);
  assert.equal(role, 'assistant');
  assert.equal(finish, 'length');
  assert.equal(text.length, 9 * 4);
  assert.ok(usage, 'a usage chunk arrives');
  assert.equal(usage.completion_tokens, 9);
  assert.equal(usage.total_tokens, usage.prompt_tokens + 9);
});

test('completions.create, not streaming', { timeout: 20000 }, async () => {
  const r = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 4 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.model, MODEL);
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.choices[0].text, ' the and for you');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], [4, 4, 8]);
});

test('completions.create, streaming with include_usage', { timeout: 20000 }, async () => {
  const stream = await client.completions.create({
    model: MODEL,
    prompt: 'Count:',
    max_tokens: 5,
    stream: true,
    stream_options: { include_usage: true },
  });
  const texts = [];
  let finish;
  let usage;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      texts.push(c.text);
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.deepEqual(texts, [' the', ' and', ' for', ' you', ' not']);
  assert.equal(finish, 'length');
  assert.deepEqual([usage.prompt_tokens, usage.completion_tokens], [2, 5]);
});

test('errors surface as the SDK error classes', { timeout: 20000 }, async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404,
  );
  await assert.rejects(
    client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 0 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /max_tokens/.test(e.message),
  );
});
