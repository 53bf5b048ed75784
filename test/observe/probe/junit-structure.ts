/**
 * A strict reader for the XML subset JUnit reports use (no DTD, comments,
 * CDATA or processing instructions past the declaration), so the tests can
 * check well-formedness without xmllint: balanced tags, one root, quoted and
 * unique attributes, only the five predefined entities and character
 * references, no character XML 1.0 forbids. Then the JUnit structure.
 */
import assert from 'node:assert/strict';

export interface XmlElement {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const NAME = '[A-Za-z_][A-Za-z0-9_.-]*';
const ENTITY = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const DECODE: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, where: string): string {
  assert.ok(!FORBIDDEN.test(raw), `${where}: a character XML 1.0 forbids`);
  assert.ok(!raw.replace(ENTITY, '').includes('&'), `${where}: a bare & or an unknown entity in ${JSON.stringify(raw)}`);
  return raw.replace(ENTITY, (_all, entity: string) => (entity.startsWith('#x') ? String.fromCodePoint(parseInt(entity.slice(2), 16)) : entity.startsWith('#') ? String.fromCodePoint(Number(entity.slice(1))) : DECODE[entity]!));
}

export function parseXml(xml: string): XmlElement {
  const declaration = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/.exec(xml);
  assert.ok(declaration !== null, 'missing the XML declaration');
  const tag = new RegExp(`<(/?)(${NAME})((?:\\s+${NAME}="[^"<]*")*)\\s*(/?)>`, 'y');
  const attribute = new RegExp(`(${NAME})="([^"<]*)"`, 'g');
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let offset = declaration[0].length;
  while (offset < xml.length) {
    const next = xml.indexOf('<', offset);
    const text = xml.slice(offset, next === -1 ? xml.length : next);
    assert.ok(!text.includes('>') || !text.includes(']]>'), 'text holds ]]>');
    const decoded = decode(text, `text at ${offset}`);
    if (stack.length === 0) assert.equal(text.trim(), '', `text outside the root at ${offset}`);
    else stack.at(-1)!.text += decoded;
    if (next === -1) break;
    tag.lastIndex = next;
    const match = tag.exec(xml);
    assert.ok(match !== null, `malformed tag at ${next}: ${JSON.stringify(xml.slice(next, next + 60))}`);
    const [whole, closing, name, rawAttributes, selfClosing] = match;
    offset = next + whole.length;
    if (closing === '/') {
      assert.ok(rawAttributes === '' && selfClosing === '', `malformed end tag ${whole}`);
      const open = stack.pop();
      assert.equal(open?.name, name, `</${name}> closes <${open?.name ?? 'nothing'}>`);
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const [, key, value] of rawAttributes!.matchAll(attribute)) {
      assert.ok(!Object.hasOwn(attributes, key!), `duplicate attribute ${key} on <${name}>`);
      attributes[key!] = decode(value!, `<${name} ${key}>`);
    }
    const element: XmlElement = { name: name!, attributes, children: [], text: '' };
    if (stack.length === 0) {
      assert.equal(root, undefined, 'a second root element');
      root = element;
    } else stack.at(-1)!.children.push(element);
    if (selfClosing !== '/') stack.push(element);
  }
  assert.equal(stack.length, 0, `unclosed <${stack.at(-1)?.name}>`);
  assert.ok(root !== undefined, 'no root element');
  return root;
}

const isSeconds = (text: string | undefined): boolean => text !== undefined && /^\d+(\.\d+)?$/.test(text);

/** Well-formed, and shaped as JUnit: testsuites > testsuite > testcase (> properties, failure), counts agreeing. */
export function checkJunitStructure(xml: string, expected: { tests: number; failures: number }): XmlElement {
  const root = parseXml(xml);
  assert.equal(root.name, 'testsuites');
  assert.equal(root.children.length, 1);
  const suite = root.children[0]!;
  assert.equal(suite.name, 'testsuite');
  assert.equal(suite.attributes.tests, String(expected.tests));
  assert.equal(suite.attributes.failures, String(expected.failures));
  assert.ok(isSeconds(suite.attributes.time), `testsuite time ${suite.attributes.time}`);
  assert.match(suite.attributes.timestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
  assert.equal(suite.children.length, expected.tests);
  let failures = 0;
  for (const testcase of suite.children) {
    assert.equal(testcase.name, 'testcase');
    assert.ok((testcase.attributes.name ?? '').length > 0);
    assert.ok((testcase.attributes.classname ?? '').length > 0);
    assert.ok(isSeconds(testcase.attributes.time), `testcase time ${testcase.attributes.time}`);
    for (const child of testcase.children) {
      assert.ok(['properties', 'failure'].includes(child.name), `unexpected <${child.name}> in a testcase`);
      if (child.name === 'failure') {
        failures++;
        assert.ok((child.attributes.message ?? '').length > 0, 'a failure without a message');
        assert.equal(child.text, child.attributes.message);
      }
    }
  }
  assert.equal(failures, expected.failures);
  return root;
}
