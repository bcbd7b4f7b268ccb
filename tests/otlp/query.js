#!/usr/bin/env node
'use strict';
// Queries over what tests/otlp/receiver.js wrote (DIR/spans.jsonl,
// DIR/requests.jsonl), for shell tests. See tests/otlp/README.md.

const fs = require('fs');
const path = require('path');

const USAGE = `usage: node query.js DIR COMMAND [OPTIONS]
commands:
  count [SPAN FILTERS]             number of spans that match
  spans [SPAN FILTERS]             the matching spans, one JSON object a line
  field -f PATH [SPAN FILTERS]     PATH of each matching span, one a line
  requests [REQUEST FILTERS]       number of requests that match
  request-field -f PATH [REQUEST FILTERS]
                                   PATH of each matching request, one a line
span filters (all must hold; repeatable ones all must hold too):
  --service S          resource attribute service.name is S
  --kind K             server|client|internal|producer|consumer|unspecified or a number
  --name N             span name is N
  --attr K=V           span attribute K (flattened form, see README) is V
  --attr K             span attribute K is present
  --no-attr K          span attribute K is absent
  --resource-attr K=V  resource attribute K is V (K alone: is present)
  --trace-id HEX / --span-id HEX / --parent-span-id HEX ("" = root)
  --status-code N      span status code (0 unset, 1 ok, 2 error)
  --request-seq N      came in request number N
request filters:
  --status S           status_returned is S (a number, or hang/aborted)
  --method M / --path P
PATH: dotted, e.g. attrs.url.path, start_ns, status.code, headers.user-agent;
  keys that contain dots (attribute names) are matched whole. Strings print
  raw, other values as JSON, a missing value as an empty line.
`;

function usageError(msg) {
	process.stderr.write(`query.js: ${msg} (node query.js --help: usage)\n`);
	process.exit(2);
}

function readJsonl(file) {
	let text;
	try {
		text = fs.readFileSync(file, 'utf8');
	} catch (e) {
		if (e.code === 'ENOENT') return []; // nothing received (yet)
		throw e;
	}
	return text.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
		try {
			return JSON.parse(l);
		} catch (e) {
			process.stderr.write(`query.js: ${file}:${i + 1}: bad JSON: ${e.message}\n`);
			process.exit(1);
		}
	});
}

// Value at a dotted PATH; a key may itself contain dots (longest key first).
function lookup(obj, p) {
	if (p === '') return obj;
	if (obj === null || typeof obj !== 'object') return undefined;
	if (Object.prototype.hasOwnProperty.call(obj, p)) return obj[p];
	for (let i = p.length - 1; i > 0; i--) {
		if (p[i] !== '.') continue;
		const head = p.slice(0, i);
		if (Object.prototype.hasOwnProperty.call(obj, head)) {
			const v = lookup(obj[head], p.slice(i + 1));
			if (v !== undefined) return v;
		}
	}
	return undefined;
}

function show(v) {
	if (v === undefined || v === null) return '';
	return typeof v === 'string' ? v : JSON.stringify(v);
}

function keyValue(opt, s) {
	const i = s.indexOf('=');
	if (i === 0) usageError(`${opt} ${s}: empty key`);
	return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

const KINDS = { unspecified: 0, internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };

function parse(argv) {
	if (argv.includes('--help') || argv.includes('-h')) {
		process.stdout.write(USAGE);
		process.exit(0);
	}
	if (argv.length < 2) usageError('need DIR and COMMAND');
	const [dir, cmd] = argv;
	const commands = ['count', 'spans', 'field', 'requests', 'request-field'];
	if (!commands.includes(cmd)) usageError(`unknown command ${JSON.stringify(cmd)}`);
	if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) usageError(`${dir}: not a directory`);
	const onRequests = cmd === 'requests' || cmd === 'request-field';
	const preds = [];
	let field;
	const spanOpts = new Set(['--service', '--kind', '--name', '--attr', '--no-attr', '--resource-attr',
		'--trace-id', '--span-id', '--parent-span-id', '--status-code', '--request-seq']);
	const reqOpts = new Set(['--status', '--method', '--path']);
	for (let i = 2; i < argv.length; i++) {
		const opt = argv[i];
		const valid = opt === '-f' ? (cmd === 'field' || cmd === 'request-field')
			: (onRequests ? reqOpts : spanOpts).has(opt);
		if (!valid) usageError(`option ${JSON.stringify(opt)} does not go with ${cmd}`);
		if (i + 1 >= argv.length) usageError(`${opt} needs a value`);
		const v = argv[++i];
		switch (opt) {
		case '-f': field = v; break;
		case '--service': preds.push((s) => s.resource_attrs['service.name'] === v); break;
		case '--kind': {
			const k = /^[0-9]+$/.test(v) ? Number(v) : KINDS[v];
			if (k === undefined) usageError(`--kind ${v}: expected ${Object.keys(KINDS).join('|')} or a number`);
			preds.push((s) => s.kind === k);
			break;
		}
		case '--name': preds.push((s) => s.name === v); break;
		case '--attr': {
			const [k, want] = keyValue(opt, v);
			preds.push((s) => Object.prototype.hasOwnProperty.call(s.attrs, k) && (want === undefined || s.attrs[k] === want));
			break;
		}
		case '--no-attr': preds.push((s) => !Object.prototype.hasOwnProperty.call(s.attrs, v)); break;
		case '--resource-attr': {
			const [k, want] = keyValue(opt, v);
			preds.push((s) => Object.prototype.hasOwnProperty.call(s.resource_attrs, k) && (want === undefined || s.resource_attrs[k] === want));
			break;
		}
		case '--trace-id': preds.push((s) => s.trace_id === v.toLowerCase()); break;
		case '--span-id': preds.push((s) => s.span_id === v.toLowerCase()); break;
		case '--parent-span-id': preds.push((s) => s.parent_span_id === v.toLowerCase()); break;
		case '--status-code': preds.push((s) => String(s.status.code) === v); break;
		case '--request-seq': preds.push((s) => String(s.request_seq) === v); break;
		case '--status': preds.push((r) => String(r.status_returned) === v); break;
		case '--method': preds.push((r) => r.method === v); break;
		case '--path': preds.push((r) => r.path === v); break;
		}
	}
	if ((cmd === 'field' || cmd === 'request-field') && field === undefined) usageError(`${cmd} needs -f PATH`);
	return { dir, cmd, preds, field, onRequests };
}

const q = parse(process.argv.slice(2));
const rows = readJsonl(path.join(q.dir, q.onRequests ? 'requests.jsonl' : 'spans.jsonl'))
	.filter((r) => q.preds.every((p) => p(r)));
let out = '';
switch (q.cmd) {
case 'count':
case 'requests':
	out = `${rows.length}\n`;
	break;
case 'spans':
	out = rows.map((r) => JSON.stringify(r) + '\n').join('');
	break;
case 'field':
case 'request-field':
	out = rows.map((r) => show(lookup(r, q.field)) + '\n').join('');
	break;
}
process.stdout.write(out);
