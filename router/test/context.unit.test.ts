import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { IDENTITY_HEADER } from '@mall/platform';
import { clientIpOf, normalizeIp, parseTrustProxy, requestIdFrom, stripInternalHeaders } from '../src/context.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('requestIdFrom', () => {
  it('keeps a short, plain incoming id', () => {
    assert.equal(requestIdFrom('req-01.abc_DEF'), 'req-01.abc_DEF');
    assert.equal(requestIdFrom(['first', 'second']), 'first');
    assert.equal(requestIdFrom('x'.repeat(128)), 'x'.repeat(128));
  });

  it('replaces a missing, long or unsafe id with a fresh UUID', () => {
    for (const bad of [undefined, '', 'x'.repeat(129), 'has space', 'line\nbreak', '{"level":60}', 'ümlaut', 'a/b']) {
      const id = requestIdFrom(bad);
      assert.match(id, UUID, String(bad));
    }
    assert.notEqual(requestIdFrom(undefined), requestIdFrom(undefined));
  });
});

describe('parseTrustProxy', () => {
  it('loopback trusts 127.0.0.0/8 and ::1 only', () => {
    const trust = parseTrustProxy('loopback');
    for (const ip of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.ok(trust(ip), ip);
    for (const ip of ['10.0.0.1', '192.168.1.1', '::2', '2001:db8::1', '', 'localhost']) assert.ok(!trust(ip), ip);
  });

  it('false trusts nobody', () => {
    for (const spec of ['false', 'FALSE', 'none', ' ']) assert.ok(!parseTrustProxy(spec)('127.0.0.1'), spec);
  });

  it('takes a list of IPs, CIDRs and loopback', () => {
    const trust = parseTrustProxy('10.0.0.0/8, 192.168.1.5,loopback, fd00::/8');
    for (const ip of ['10.1.2.3', '192.168.1.5', '127.0.0.1', 'fd00::7']) assert.ok(trust(ip), ip);
    for (const ip of ['11.0.0.1', '192.168.1.6', 'fe80::1']) assert.ok(!trust(ip), ip);
  });

  it('refuses a spec it does not understand rather than trusting everyone', () => {
    for (const spec of ['true', 'yes', '10.0.0.0/33', '10.0.0.0/x', 'example.com', '::1/129']) {
      assert.throws(() => parseTrustProxy(spec), /TRUST_PROXY/, spec);
    }
  });
});

describe('clientIpOf', () => {
  const loopback = parseTrustProxy('loopback');

  it('is the socket peer without X-Forwarded-For', () => {
    assert.equal(clientIpOf('203.0.113.9', undefined, loopback), '203.0.113.9');
    assert.equal(clientIpOf('::ffff:203.0.113.9', undefined, loopback), '203.0.113.9');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    assert.equal(clientIpOf('203.0.113.9', '198.51.100.1', loopback), '203.0.113.9');
    assert.equal(clientIpOf('127.0.0.1', '198.51.100.1', parseTrustProxy('false')), '127.0.0.1');
  });

  it('believes the entry a trusted proxy appended, not what the client prepended', () => {
    assert.equal(clientIpOf('127.0.0.1', '198.51.100.1', loopback), '198.51.100.1');
    // The client sent "X-Forwarded-For: 1.1.1.1"; our proxy appended the address it saw.
    assert.equal(clientIpOf('127.0.0.1', '1.1.1.1, 198.51.100.1', loopback), '198.51.100.1');
    assert.equal(clientIpOf('127.0.0.1', ['1.1.1.1', '198.51.100.1'], loopback), '198.51.100.1');
  });

  it('walks through a chain of trusted proxies', () => {
    const trust = parseTrustProxy('loopback,10.0.0.0/8');
    assert.equal(clientIpOf('127.0.0.1', '198.51.100.7, 10.0.0.3, 10.0.0.2', trust), '198.51.100.7');
    assert.equal(clientIpOf('127.0.0.1', '10.0.0.3, 10.0.0.2', trust), '10.0.0.3');
  });

  it('stops at an entry that is not an IP address', () => {
    assert.equal(clientIpOf('127.0.0.1', 'not-an-ip', loopback), '127.0.0.1');
    assert.equal(clientIpOf('127.0.0.1', '198.51.100.1, unknown', loopback), '127.0.0.1');
  });

  it('normalizes IPv4-mapped addresses', () => {
    assert.equal(normalizeIp('::FFFF:10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeIp('2001:DB8::1'), '2001:db8::1');
  });
});

describe('stripInternalHeaders', () => {
  it('drops a client-sent identity header and keeps the rest', () => {
    const req = {
      headers: { [IDENTITY_HEADER]: 'forged', authorization: 'Bearer t', 'x-request-id': 'r' },
    } as unknown as IncomingMessage;
    stripInternalHeaders(req);
    assert.deepEqual(req.headers, { authorization: 'Bearer t', 'x-request-id': 'r' });
  });
});
