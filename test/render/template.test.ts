// The template engine against Go text/template semantics and confd's documented examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTemplate } from '../../dist/render/template/exec.js';
import { TemplateError } from '../../dist/render/template/errors.js';
import { confdFuncs } from '../../dist/render/funcs.js';
import { KeyValues } from '../../dist/render/kv.js';

function render(src: string, kvs: Record<string, string> = {}, data: unknown = null, env: Record<string, string> = {}): string {
  const kv = new KeyValues(Object.entries(kvs));
  return renderTemplate('t.tmpl', src, data, confdFuncs(kv, { env, now: () => new Date(Date.UTC(2015, 0, 23, 13, 4, 5, 93)) }));
}

interface Case {
  name: string;
  src: string;
  want: string;
  kvs?: Record<string, string>;
  data?: unknown;
  env?: Record<string, string>;
}

const GO: Case[] = [
  { name: 'text only', src: 'hello\n', want: 'hello\n' },
  { name: 'string literal', src: '{{"a\\tb"}}', want: 'a\tb' },
  { name: 'raw string', src: '{{`a\\tb`}}', want: 'a\\tb' },
  { name: 'numbers', src: '{{1}} {{-2}} {{0x1F}} {{1.5}} {{1e3}} {{\'a\'}}', want: '1 -2 31 1.5 1000 97' },
  { name: 'floats print as Go %v', src: '{{div 1 1 | printf "%v"}} {{1234567.5}} {{0.00001}} {{0.0001}} {{123456.5}}', want: '1 1.2345675e+06 1e-05 0.0001 123456.5' },
  { name: 'bools and nil dot', src: '{{true}} {{false}} {{.}}', want: 'true false <no value>' },
  { name: 'fields of nil data are empty, not errors (confd passes nil)', src: '{{.a}} {{.a.b}}', want: '<no value> <no value>' },
  { name: 'field of a map', src: '{{.a}} {{.b.c}}', data: { a: 'x', b: { c: 'y' } }, want: 'x y' },
  { name: 'missing map key', src: '{{.nope}}', data: { a: 1 }, want: '<no value>' },
  { name: 'pipeline passes the last argument', src: '{{"abc" | printf "%s-%s" "x"}}', want: 'x-abc' },
  { name: 'chained pipeline', src: '{{"Hi" | toLower | toUpper}}', want: 'HI' },
  { name: 'parenthesized', src: '{{printf "%d" (len "abc")}}', want: '3' },
  { name: 'field of a parenthesized value', src: '{{(map "a" "b").a}}', want: 'b' },
  { name: 'if true', src: '{{if 1}}yes{{end}}', want: 'yes' },
  { name: 'if empty string is false', src: '{{if ""}}yes{{else}}no{{end}}', want: 'no' },
  { name: 'if empty list is false', src: '{{if split "" ","}}x{{end}}{{if (jsonArray "[]")}}y{{else}}z{{end}}', want: 'xz' },
  { name: 'else if chain', src: '{{if eq 1 2}}a{{else if eq 1 1}}b{{else}}c{{end}}', want: 'b' },
  { name: 'with sets dot', src: '{{with "x"}}[{{.}}]{{end}}', want: '[x]' },
  { name: 'with else', src: '{{with ""}}[{{.}}]{{else}}none{{end}}', want: 'none' },
  { name: 'else with', src: '{{with ""}}a{{else with "b"}}{{.}}{{end}}', want: 'b' },
  { name: 'range slice', src: '{{range split "a,b,c" ","}}<{{.}}>{{end}}', want: '<a><b><c>' },
  { name: 'range index and value', src: '{{range $i, $v := split "a,b" ","}}{{$i}}={{$v}};{{end}}', want: '0=a;1=b;' },
  { name: 'range one variable is the element', src: '{{range $v := split "a,b" ","}}{{$v}}{{end}}', want: 'ab' },
  { name: 'range map in key order', src: '{{range $k, $v := map "b" 2 "a" 1}}{{$k}}{{$v}}{{end}}', want: 'a1b2' },
  { name: 'range else on empty', src: '{{range split "" "x"}}{{.}}{{else}}empty{{end}}|{{range jsonArray "[]"}}x{{else}}none{{end}}', want: '|none' },
  { name: 'range over int', src: '{{range 3}}{{.}}{{end}}', want: '012' },
  { name: 'break and continue', src: '{{range seq 1 6}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 5}}{{break}}{{end}}{{.}}{{end}}', want: '134' },
  { name: 'variables and assignment', src: '{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', want: '2' },
  { name: 'variable declared in if is scoped to it', src: '{{$x := "out"}}{{if true}}{{$x := "in"}}{{$x}}{{end}}{{$x}}', want: 'inout' },
  { name: '$ is the data', src: '{{range split "a" ","}}{{$.name}}{{end}}', data: { name: 'root' }, want: 'root' },
  { name: 'trim markers', src: 'a  {{- "b" -}}  \n c', want: 'abc' },
  { name: 'trim with comment', src: 'a\n{{- /* gone */ -}}\nb', want: 'ab' },
  { name: 'comment', src: 'a{{/* a comment */}}b', want: 'ab' },
  { name: 'minus number is not a trim marker', src: '{{-3}}', want: '-3' },
  { name: 'and / or return values', src: '{{and 1 "x"}} {{and 0 "x"}} {{or "" "y"}} {{or 0 ""}}', want: 'x 0 y ' },
  { name: 'and short-circuits', src: '{{and false (index (split "a" ",") 5)}}', want: 'false' },
  { name: 'not', src: '{{not 0}} {{not "a"}}', want: 'true false' },
  { name: 'comparisons', src: '{{eq 1 1}} {{ne "a" "b"}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}} {{eq "a" "b" "a"}}', want: 'true true true true true false true' },
  { name: 'len counts bytes of strings', src: '{{len "héllo"}} {{len (split "a,b" ",")}} {{len (map "a" 1)}}', want: '6 2 1' },
  { name: 'index', src: '{{index (split "a:b" ":") 1}} {{index (map "k" "v") "k"}} {{index (json `{"a":[1,2]}`) "a" 1}}', want: 'b v 2' },
  { name: 'slice', src: '{{slice "abcdef" 1 3}} {{slice (split "a,b,c" ",") 1}}', want: 'bc [b c]' },
  { name: 'print and println', src: '{{print 1 2 "a" "b" 3}}|{{println "a" 1}}', want: '1 2ab3|a 1\n' },
  { name: 'printf verbs', src: '{{printf "%5s|%-4d|%03d|%.2f|%q|%v|%x|%t|%%" "ab" 7 5 3.14159 "q" (split "a b" " ") 255 true}}', want: '   ab|7   |005|3.14|"q"|[a b]|ff|true|%' },
  { name: 'printf wrong verb', src: '{{printf "%d" "x"}}', want: '%!d(string=x)' },
  { name: 'html js urlquery', src: '{{html "<a href=\'x\'>&"}} {{js "it\'s <b>"}} {{urlquery "a b&c"}}', want: '&lt;a href=&#39;x&#39;&gt;&amp; it\\\'s \\u003Cb\\u003E a+b%26c' },
  { name: 'define and template', src: '{{define "T"}}<{{.}}>{{end}}{{template "T" "x"}}{{template "T"}}', want: '<x><<no value>>' },
  { name: 'block', src: '{{block "B" "d"}}[{{.}}]{{end}}', want: '[d]' },
  { name: 'printing a list and a map', src: '{{split "a,b" ","}} {{map "b" 1 "a" "x"}}', want: '[a b] map[a:x b:1]' },
  { name: 'newlines inside actions', src: '{{printf\n  "%s"\n  "x"}}', want: 'x' },
];

const CONFD: Case[] = [
  {
    name: 'issue template (getvs sorts values)',
    src: 'upstream app {\n  {{ range getvs "/services/app/*" }}\n  server {{ . }};\n  {{ end }}\n}\n',
    kvs: { '/services/app/web2': '10.0.0.2:80', '/services/app/web1': '10.0.0.1:80', '/services/app/web1/extra': 'x', '/services/apple/z': '9.9.9.9:1' },
    want: 'upstream app {\n  \n  server 10.0.0.1:80;\n  \n  server 10.0.0.2:80;\n  \n}\n',
  },
  {
    name: 'docs: nginx example',
    src: 'worker_processes {{getv "/nginx/worker_processes"}};\n\nupstream app {\n{{range getvs "/app/upstream/*"}}\n    server {{.}};\n{{end}}\n}\nserver_name www.{{getv "/nginx/domain"}};\n',
    kvs: { '/nginx/domain': 'example.com', '/nginx/root': '/var/www/example_dotcom', '/nginx/worker_processes': '2', '/app/upstream/app1': '10.0.1.100:80', '/app/upstream/app2': '10.0.1.101:80' },
    want: 'worker_processes 2;\n\nupstream app {\n\n    server 10.0.1.100:80;\n\n    server 10.0.1.101:80;\n\n}\nserver_name www.example.com;\n',
  },
  {
    name: 'docs: complex example (lsdir, base, printf, gets, json)',
    src: '{{range $dir := lsdir "/services/web"}}\nupstream {{base $dir}} {\n    {{$custdir := printf "/services/web/%s/*" $dir}}{{range gets $custdir}}\n    server {{$data := json .Value}}{{$data.IP}}:80;\n    {{end}}\n}\n{{end}}',
    kvs: { '/services/web/cust1/2': '{"IP": "10.0.0.2"}', '/services/web/cust2/2': '{"IP": "10.0.0.4"}', '/services/web/cust2/1': '{"IP": "10.0.0.3"}', '/services/web/cust1/1': '{"IP": "10.0.0.1"}' },
    want: '\nupstream cust1 {\n    \n    server 10.0.0.1:80;\n    \n    server 10.0.0.2:80;\n    \n}\n\nupstream cust2 {\n    \n    server 10.0.0.3:80;\n    \n    server 10.0.0.4:80;\n    \n}\n',
  },
  {
    name: 'docs: zookeeper json values',
    src: '{{range gets "/services/zookeeper/*"}}{{$data := json .Value}}id: {{$data.Id}} ip: {{$data.IP}}\n{{end}}',
    kvs: { '/services/zookeeper/host1': '{"Id":"host1", "IP":"192.168.10.11"}', '/services/zookeeper/host2': '{"Id":"host2", "IP":"192.168.10.12"}' },
    want: 'id: host1 ip: 192.168.10.11\nid: host2 ip: 192.168.10.12\n',
  },
  {
    name: 'docs: advanced map traversal',
    src: '{{$data := json (getv "/test/data/")}}type: {{ (index $data.animals 1).type }} name: {{ (index $data.animals 1).name }}{{range $data.animals}} {{.name}}{{end}}',
    kvs: { '/test/data/': '{"animals":[{"type":"dog","name":"Fido"},{"type":"cat","name":"Misse"}]}' },
    want: 'type: cat name: Misse Fido Misse',
  },
  { name: 'get, .Key and .Value', src: '{{with get "/key"}}key: {{base .Key}} value: {{.Value}}{{end}}', kvs: { '/key': 'v' }, want: 'key: key value: v' },
  { name: 'gets sorted by key', src: '{{range gets "/a/*"}}{{.Key}}={{.Value}} {{end}}', kvs: { '/a/b': '2', '/a/a': '1', '/a/c/d': 'deep' }, want: '/a/a=1 /a/b=2 ' },
  { name: 'glob classes and ?', src: '{{getvs "/a/[ab]?"}} {{getvs "/a/[^a]*"}}', kvs: { '/a/a1': 'x', '/a/b2': 'y', '/a/c33': 'z' }, want: '[x y] [y z]' },
  { name: 'getv default', src: '{{getv "/missing" "default_value"}} {{getv "/k" "d"}}', kvs: { '/k': 'v' }, want: 'default_value v' },
  { name: 'exists', src: '{{if exists "/key"}}value: {{getv "/key"}}{{end}}{{if exists "/no"}}x{{end}}', kvs: { '/key': 'v' }, want: 'value: v' },
  { name: 'ls lists leaves and directories', src: '{{range ls "/deis/services"}}{{.}} {{end}}', kvs: { '/deis/services/a': '1', '/deis/services/b/c': '2', '/deis/servicesx/z': '3' }, want: 'a b ' },
  { name: 'lsdir only directories', src: '{{lsdir "/deis/services"}}', kvs: { '/deis/services/a': '1', '/deis/services/b/c': '2' }, want: '[b]' },
  { name: 'ls of a missing path is empty', src: '{{range ls "/nope"}}x{{else}}empty{{end}}', want: 'empty' },
  { name: 'dir and base', src: '{{dir "/services/data/url"}} {{base "/a/b/"}} {{dir "x"}}', want: '/services/data b .' },
  { name: 'split and index', src: '{{ $url := split (getv "/deis/service") ":" }}host: {{index $url 0}} port: {{index $url 1}}', kvs: { '/deis/service': '10.0.0.1:8080' }, want: 'host: 10.0.0.1 port: 8080' },
  { name: 'join', src: '{{$s := getvs "/es/*"}}services: {{join $s ","}}', kvs: { '/es/1': 'b', '/es/2': 'a' }, want: 'services: a,b' },
  { name: 'replace with -1', src: '{{replace "a-b-c" "-" "_" -1}} {{replace "a-b-c" "-" "_" 1}}', want: 'a_b_c a_b-c' },
  { name: 'case and contains and trimSuffix', src: '{{toUpper "value"}} {{toLower "Value"}} {{contains "abc" "b"}} {{trimSuffix "app.conf" ".conf"}}', want: 'VALUE value true app' },
  // Go's strings.ToUpper/ToLower map each rune to one rune (Unicode's simple case mapping): no
  // expansions (JavaScript: ß -> SS, ŉ -> ʼN, ﬁ -> FI, ᾳ -> ΑΙ, İ -> i̇) and no final sigma
  { name: 'toUpper rune by rune as Go', src: '{{toUpper "straße ŉ ǰ ﬁ ᾳ ᾀ ῃ ı i ǆ ǅ µ é"}}', want: 'STRAßE ŉ ǰ ﬁ ᾼ ᾈ ῌ I I Ǆ Ǆ Μ É' },
  { name: 'toLower rune by rune as Go', src: '{{toLower "ΟΔΟΣ İSTANBUL ẞ ǅ ᾈ É"}}', want: 'οδοσ istanbul ß ǆ ᾀ é' },
  { name: 'map for sub-templates', src: '{{$e := map "name" "elasticsearch" "private_port" 9200}}name: {{index $e "name"}} port: {{index $e "private_port"}}', want: 'name: elasticsearch port: 9200' },
  { name: 'getenv with default', src: '{{getenv "HOSTNAME"}} {{getenv "HOST_IP" "127.0.0.1"}}', env: { HOSTNAME: 'web1' }, want: 'web1 127.0.0.1' },
  { name: 'seq atoi arithmetic', src: '{{seq 1 3}} {{atoi "42"}} {{add 1 2}} {{sub 5 7}} {{mul 3 4}} {{div 7 2}} {{mod 7 3}}', want: '[1 2 3] 42 3 -2 12 3 1' },
  { name: 'base64, parseBool, reverse, sortByLength', src: '{{base64Encode "Value"}} {{base64Decode "VmFsdWU="}} {{parseBool "true"}} {{reverse (split "a,b" ",")}} {{sortByLength (split "ccc,a,bb" ",")}}', want: 'VmFsdWU= Value true [b a] [a bb ccc]' },
  { name: 'datetime', src: '{{datetime.UTC.Format "Jan 2, 2006 at 3:04pm (MST) 2006-01-02T15:04:05.000Z07:00"}}', want: 'Jan 23, 2015 at 1:04pm (UTC) 2015-01-23T13:04:05.093Z' },
];

for (const c of [...GO, ...CONFD]) {
  test(`template: ${c.name}`, () => {
    assert.equal(render(c.src, c.kvs, c.data ?? null, c.env), c.want);
  });
}

interface ErrorCase {
  name: string;
  src: string;
  /** `line:column: message` after the file name */
  want: RegExp;
  kvs?: Record<string, string>;
  data?: unknown;
}

const ERRORS: ErrorCase[] = [
  { name: 'unclosed action', src: 'a\n  {{ range getvs "/a/*" }\n', want: /^t\.tmpl:2:\d+: / },
  { name: 'undefined function', src: 'x\n\n   {{ nope "a" }}', want: /^t\.tmpl:3:7: function "nope" not defined$/ },
  { name: 'undefined variable', src: '{{ $y }}', want: /^t\.tmpl:1:4: undefined variable "\$y"$/ },
  { name: 'missing end', src: '{{if true}}\nx', want: /^t\.tmpl:\d+:\d+: unexpected EOF$/ },
  { name: 'unexpected end', src: 'a{{end}}', want: /^t\.tmpl:1:4: unexpected \{\{end\}\}$/ },
  { name: 'missing value for if', src: '{{if}}{{end}}', want: /^t\.tmpl:1:5: missing value for if$/ },
  { name: 'break outside range', src: '{{break}}', want: /^t\.tmpl:1:3: \{\{break\}\} outside \{\{range\}\}$/ },
  { name: 'bad character', src: '{{ . ; }}', want: /^t\.tmpl:1:6: unrecognized character in action: ";"$/ },
  { name: 'unterminated string', src: '{{ "abc }}', want: /^t\.tmpl:1:4: unterminated quoted string$/ },
  { name: 'getv of a missing key (execution)', src: 'line1\n  value: {{getv "/key"}}', want: /^t\.tmpl:2:12: executing "t\.tmpl": error calling getv: key does not exist: \/key$/ },
  { name: 'get of a missing key', src: '{{get "/x"}}', want: /^t\.tmpl:1:3: executing "t\.tmpl": error calling get: key does not exist: \/x$/ },
  { name: 'wrong number of args', src: '{{split "a"}}', want: /^t\.tmpl:1:3: executing "t\.tmpl": wrong number of args for split: want 2 got 1$/ },
  { name: 'wrong argument type', src: '{{toUpper 3}}', want: /error calling toUpper: wrong type for value; expected string; got int$/ },
  { name: 'index out of range', src: '{{index (split "a" ",") 3}}', want: /^t\.tmpl:1:3: executing "t\.tmpl": error calling index: index out of range: 3$/ },
  { name: 'field of nil', src: '\n{{ .a.b }}', data: { a: null }, want: /^t\.tmpl:2:4: executing "t\.tmpl": nil pointer evaluating interface \{\}\.b$/ },
  { name: 'incompatible comparison', src: '{{eq 1 "1"}}', want: /error calling eq: incompatible types for comparison$/ },
  { name: 'bad json', src: '{{json "{"}}', want: /error calling json: invalid JSON/ },
  { name: 'atoi', src: '{{atoi "x"}}', want: /error calling atoi: strconv\.Atoi: parsing "x": invalid syntax$/ },
  { name: 'division by zero', src: '{{div 1 0}}', want: /integer divide by zero$/ },
  { name: 'argument to a non-function', src: '{{"a" "b"}}', want: /can't give argument to non-function "a"$/ },
  { name: 'range over a string', src: '{{range "abc"}}{{end}}', want: /range can't iterate over abc$/ },
];

for (const c of ERRORS) {
  test(`template error: ${c.name}`, () => {
    assert.throws(
      () => render(c.src, c.kvs, c.data ?? null),
      (err: unknown) => {
        assert.ok(err instanceof TemplateError, `a TemplateError, got ${String(err)}`);
        assert.match(err.message, c.want);
        return true;
      },
    );
  });
}
