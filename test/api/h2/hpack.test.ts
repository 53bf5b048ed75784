import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AuthorityRewriter, fixAuthority } from '../../../src/api/h2/authority-rewrite.js';
import { HpackDecoder, HpackError, encodeLiterals } from '../../../src/api/h2/hpack.js';
import type { HeaderField } from '../../../src/api/h2/hpack.js';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const pairs = (fields: HeaderField[]): string[][] => fields.map((field) => [field.name, field.value]);

describe('HPACK decoding', () => {
  it('decodes RFC 7541 C.4, three requests with Huffman coding on one connection (the dynamic table carries over)', () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(pairs(decoder.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))), [
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'],
    ]);
    assert.deepEqual(pairs(decoder.decode(hex('8286 84be 5886 a8eb 1064 9cbf'))), [
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache'],
    ]);
    assert.deepEqual(pairs(decoder.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))), [
      [':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value'],
    ]);
  });

  it('decodes RFC 7541 C.3, the same requests without Huffman coding', () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(pairs(decoder.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'))).at(-1), [':authority', 'www.example.com']);
    assert.deepEqual(pairs(decoder.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865'))).at(-1), ['cache-control', 'no-cache']);
  });

  it('refuses malformed blocks with HpackError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          new HpackDecoder().decode(bytes);
        } catch (error) {
          assert.ok(error instanceof HpackError, String(error));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back what encodeLiterals writes', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ name: fc.string({ maxLength: 200 }), value: fc.string({ maxLength: 300 }) }), { maxLength: 20 }), (fields) => {
        const latin1 = fields.map(({ name, value }) => ({ name: Buffer.from(name).toString('latin1'), value: Buffer.from(value).toString('latin1') }));
        assert.deepEqual(new HpackDecoder().decode(encodeLiterals(latin1)), latin1);
      }),
    );
  });
});

function headersFrame(streamId: number, block: Uint8Array, flags = 0x4 | 0x1): Buffer {
  const out = Buffer.alloc(9 + block.length);
  out.writeUIntBE(block.length, 0, 3);
  out[3] = 0x1;
  out[4] = flags;
  out.writeUInt32BE(streamId, 5);
  out.set(block, 9);
  return out;
}

async function run(rewriter: AuthorityRewriter, input: Buffer, chunk = 7): Promise<Buffer> {
  const out: Buffer[] = [];
  rewriter.on('data', (data: Buffer) => out.push(data));
  const done = new Promise((resolve) => rewriter.on('end', resolve));
  for (let offset = 0; offset < input.length; offset += chunk) rewriter.write(input.subarray(offset, offset + chunk));
  rewriter.end();
  await done;
  return Buffer.concat(out);
}

/** Splits a frame stream into header blocks (one HEADERS frame each here) and decodes them with one decoder, as the server would. */
function serverView(bytes: Buffer): string[][][] {
  const decoder = new HpackDecoder();
  const blocks: string[][][] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const length = bytes.readUIntBE(offset, 3);
    if (bytes[offset + 3] === 0x1) blocks.push(pairs(decoder.decode(bytes.subarray(offset + 9, offset + 9 + length))));
    offset += 9 + length;
  }
  return blocks;
}

describe('the :authority rewriter', () => {
  it('passes a well-behaved connection through byte for byte', async () => {
    const input = Buffer.concat([headersFrame(1, hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), headersFrame(3, hex('8286 84be 5886 a8eb 1064 9cbf'))]);
    const rewriter = new AuthorityRewriter();
    assert.deepEqual(await run(rewriter, input), input);
    assert.equal(rewriter.rewrites, 0);
  });

  it('fixes a URL authority and re-encodes every later block so the server\'s table stays consistent', async () => {
    // Block 1 inserts ":authority: http://127.0.0.1:2379" into the client's dynamic table; block 2 refers to it by index (62).
    const first = Buffer.concat([Buffer.from([0x82, 0x86, 0x84, 0x41, 22]), Buffer.from('http://127.0.0.1:2379/x', 'latin1').subarray(0, 22)]);
    const input = Buffer.concat([headersFrame(1, first), headersFrame(3, Uint8Array.from([0x82, 0x86, 0x84, 0xbe]))]);
    const rewriter = new AuthorityRewriter();
    const blocks = serverView(await run(rewriter, input));
    assert.equal(rewriter.rewrites, 2);
    for (const block of blocks) assert.deepEqual(block.find(([name]) => name === ':authority'), [':authority', '127.0.0.1:2379']);
  });

  it('finds the host:port in what clients send', () => {
    assert.equal(fixAuthority('http://127.0.0.1:2379'), '127.0.0.1:2379');
    assert.equal(fixAuthority('https://h:1/path'), 'h:1');
    assert.equal(fixAuthority('h:1'), 'h:1');
    assert.equal(fixAuthority('/'), 'localhost');
  });
});
