#!/usr/bin/env node
// The S3-compatible server of Postline's tests: s3rver (a fake S3 that stores
// objects on disk) behind a strict front that verifies every request's SigV4
// signature, because s3rver itself accepts any V4 signature. The signature is
// recomputed with AWS's own signer (@smithy/signature-v4), not Postline's, and
// the body must hash to the signed x-amz-content-sha256: a request whose
// signature, credentials, date or payload hash is wrong gets 403
// SignatureDoesNotMatch (or the matching S3 error), as from AWS.
//
// Also answers what s3rver lacks: AbortMultipartUpload (DELETE ?uploadId,
// 204). Test controls, unsigned, on the same port:
//   GET /__stats[?prefix=P]      {"requests", "rejected", "aborts", "failed", "by_op"}
//   POST /__fail?after=A&count=N&status=S[&prefix=P]  let A signed requests pass, then answer
//                                the next N with S (default 503)
// With a prefix, both count or fail only requests whose object key starts with P, so
// test binaries that share one server (ctest -j) do not see each other's requests.
//
// Usage: s3_test_server.js --dir DIR --port PORT --access-key AK --secret-key SK
//                          --bucket NAME [--region R] [--ready-file FILE]
// (port 0: a free one; the ready file gets "http://127.0.0.1:PORT").
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const S3rver = require('s3rver');
const { SignatureV4 } = require('@smithy/signature-v4');
const { Hash } = require('@smithy/hash-node');

function args() {
  const out = { region: 'us-east-1', port: '0' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '').replace(/-/g, '_')] = argv[i + 1];
  for (const k of ['dir', 'access_key', 'secret_key', 'bucket'])
    if (!out[k]) throw new Error(`--${k.replace(/_/g, '-')} is required`);
  return out;
}

const opt = args();
const MAX_BODY = 256 * 1024 * 1024;
function newStats() { return { requests: 0, rejected: 0, aborts: 0, failed: 0, by_op: {} }; }
const stats = newStats();         // every request
const statsByPrefix = new Map();  // prefix -> stats, for prefixes a test asked about
let failures = [];                // { prefix, after, count, status }, oldest first

// The object key of a path-style request: "/bucket/a/b" -> "a/b".
function objectKey(url) {
  const p = decodeURIComponent(url.pathname).replace(/^\/+/, '');
  const slash = p.indexOf('/');
  return slash < 0 ? '' : p.slice(slash + 1);
}

// The stats a request counts in: the global ones and those of every matching prefix.
function statsFor(key) {
  const out = [stats];
  for (const [prefix, s] of statsByPrefix) if (key.startsWith(prefix)) out.push(s);
  return out;
}

function s3Error(res, status, code, message, counted = []) {
  for (const s of counted) s.rejected += status === 403 ? 1 : 0;
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function parseAuthorization(value) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(value || '');
  if (!m) return null;
  const [accessKey, date, region, service, terminator] = m[1].split('/');
  return { accessKey, date, region, service, terminator, signedHeaders: m[2].split(';'), signature: m[3] };
}

function amzDateToDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

async function verify(req, body) {
  const auth = parseAuthorization(req.headers['authorization']);
  if (!auth) return ['AccessDenied', 'missing or malformed AWS4-HMAC-SHA256 Authorization header'];
  if (auth.accessKey !== opt.access_key) return ['InvalidAccessKeyId', 'unknown access key'];
  if (auth.region !== opt.region || auth.service !== 's3' || auth.terminator !== 'aws4_request')
    return ['SignatureDoesNotMatch', 'wrong credential scope'];
  for (const h of ['host', 'x-amz-date', 'x-amz-content-sha256'])
    if (!auth.signedHeaders.includes(h)) return ['AccessDenied', `${h} must be signed`];
  const when = amzDateToDate(req.headers['x-amz-date']);
  if (!when || Math.abs(Date.now() - when.getTime()) > 15 * 60 * 1000)
    return ['RequestTimeTooSkewed', 'x-amz-date missing or more than 15 minutes off'];
  if (req.headers['x-amz-date'].slice(0, 8) !== auth.date) return ['SignatureDoesNotMatch', 'scope date'];
  const payload = crypto.createHash('sha256').update(body).digest('hex');
  if (req.headers['x-amz-content-sha256'] !== payload)
    return ['XAmzContentSHA256Mismatch', 'the body does not hash to x-amz-content-sha256'];
  const url = new URL(req.url, 'http://placeholder');
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const headers = {};
  for (const h of auth.signedHeaders) {
    if (req.headers[h] === undefined) return ['AccessDenied', `signed header ${h} is missing`];
    headers[h] = req.headers[h];
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: opt.access_key, secretAccessKey: opt.secret_key },
    region: opt.region,
    service: 's3',
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false,  // S3: the path as sent, encoded once
    applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: '127.0.0.1', path: url.pathname, query, headers, body },
    { signingDate: when, signableHeaders: new Set(auth.signedHeaders) });
  const expected = parseAuthorization(signed.headers['authorization']);
  if (!expected || expected.signature !== auth.signature)
    return ['SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'];
  return null;
}

function opName(req, url) {
  const q = url.searchParams;
  if (q.has('uploads')) return 'initiate';
  if (q.has('uploadId') && req.method === 'PUT') return 'part';
  if (q.has('uploadId') && req.method === 'POST') return 'complete';
  if (q.has('uploadId') && req.method === 'DELETE') return 'abort';
  if (req.method === 'PUT' && req.headers['x-amz-copy-source'] !== undefined) return 'copy';
  return req.method.toLowerCase();
}

async function main() {
  fs.mkdirSync(opt.dir, { recursive: true });
  const backend = new S3rver({
    address: '127.0.0.1', port: 0, silent: true, directory: opt.dir,
    configureBuckets: [{ name: opt.bucket }],
    allowMismatchedSignatures: true,  // the front checks; s3rver cannot check V4
  });
  const { port: backendPort } = await backend.run();

  const front = http.createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', c => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, 'http://placeholder');
      try {
        if (url.pathname === '/__stats') {
          const prefix = url.searchParams.get('prefix') || '';
          if (prefix && !statsByPrefix.has(prefix)) statsByPrefix.set(prefix, newStats());
          res.writeHead(200, { 'Content-Type': 'application/json' });
          return res.end(JSON.stringify(prefix ? statsByPrefix.get(prefix) : stats));
        }
        if (url.pathname === '/__fail') {
          const prefix = url.searchParams.get('prefix') || '';
          failures = failures.filter(f => f.prefix !== prefix);
          failures.push({ prefix, after: +(url.searchParams.get('after') || 0), count: +(url.searchParams.get('count') || 1), status: +(url.searchParams.get('status') || 503) });
          res.writeHead(204);
          return res.end();
        }
        const counted = statsFor(objectKey(url));
        for (const s of counted) s.requests++;
        const problem = await verify(req, body);
        if (problem) return s3Error(res, problem[0] === 'InvalidAccessKeyId' ? 403 : (problem[0] === 'XAmzContentSHA256Mismatch' ? 400 : 403), problem[0], problem[1], counted);
        const op = opName(req, url);
        for (const s of counted) s.by_op[op] = (s.by_op[op] || 0) + 1;
        const failure = failures.find(f => objectKey(url).startsWith(f.prefix) && (f.after > 0 || f.count > 0));
        if (failure && failure.after > 0) failure.after--;
        else if (failure) {
          failure.count--;
          for (const s of counted) s.failed++;
          return s3Error(res, failure.status, failure.status === 503 ? 'SlowDown' : 'InternalError', 'injected by the test');
        }
        if (op === 'abort') {
          for (const s of counted) s.aborts++;
          res.writeHead(204);
          return res.end();
        }
        const headers = { ...req.headers, host: `127.0.0.1:${backendPort}`, 'content-length': body.length };
        delete headers['authorization'];  // checked above; s3rver would only half-check it
        const up = http.request({ host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers }, r => {
          res.writeHead(r.statusCode, r.headers);
          r.pipe(res);
        });
        up.on('error', e => s3Error(res, 500, 'InternalError', String(e)));
        up.end(body);
      } catch (e) {
        s3Error(res, 500, 'InternalError', String(e));
      }
    });
  });
  front.listen(+opt.port, '127.0.0.1', () => {
    const url = `http://127.0.0.1:${front.address().port}`;
    if (opt.ready_file) fs.writeFileSync(opt.ready_file + '.tmp', url + '\n'), fs.renameSync(opt.ready_file + '.tmp', opt.ready_file);
    console.log(`s3 test server on ${url} (bucket ${opt.bucket}, data in ${opt.dir})`);
  });
  const stop = () => { front.close(); backend.close().finally(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch(e => { console.error(e); process.exit(1); });
