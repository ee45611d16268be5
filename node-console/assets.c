/* The console's style sheet and script, served from the binary (no
 * download at run time). The script only adds comfort: a confirmation
 * before removing a dataset and a filter box over tables; every page works
 * without it. */
#include "assets.h"

#include <string.h>

static const char css[] =
	"body{font-family:system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}\n"
	"nav{display:flex;gap:1.2em;align-items:center;background:#23395d;color:#fff;padding:.6em 1.2em}\n"
	"nav a{color:#fff;text-decoration:none}nav .brand{font-weight:600;margin-right:1em}\n"
	"nav .logout{margin-left:auto;display:flex;gap:.6em;align-items:center}\n"
	"main{padding:1em 1.6em;max-width:80em}\n"
	"table{border-collapse:collapse;background:#fff;margin:.6em 0 1.4em}\n"
	"th,td{border:1px solid #d5d9e0;padding:.3em .6em;text-align:left;vertical-align:top}\n"
	"th{background:#eef1f5}.digest{font-family:monospace;font-size:.8em;word-break:break-all;max-width:22em}\n"
	"form.login,form.add{display:grid;gap:.5em;max-width:32em;background:#fff;padding:1em;border:1px solid #d5d9e0}\n"
	"form.decide{display:flex;gap:.4em}.approve{background:#2c7a3f;color:#fff}.reject{background:#a12b2b;color:#fff}\n"
	"button{padding:.3em .8em;border:1px solid #8892a0;border-radius:3px;cursor:pointer}\n"
	".message{background:#fff8dc;border:1px solid #d9c46b;padding:.6em;white-space:pre-wrap}\n"
	".empty{color:#667}pre#schema{background:#fff;border:1px solid #d5d9e0;padding:.6em;white-space:pre-wrap}\n"
	"#filter{margin:.4em 0;padding:.3em}\n"
	".source-file pre{background:#fff;border:1px solid #d5d9e0;padding:.6em;overflow-x:auto;font-size:.85em}\n"
	".source-file summary{font-family:monospace;cursor:pointer}.warning{color:#8a4b00}\n"
	".scroll{overflow-x:auto;max-width:100%}#preview td{font-family:monospace;font-size:.85em;white-space:nowrap}#preview td.more{color:#667}\n"
	".pictures{display:flex;gap:1em;flex-wrap:wrap}.pictures figure{margin:0;background:#fff;padding:.4em;"
	"border:1px solid #d5d9e0}.pictures img{display:block;height:128px;image-rendering:pixelated}\n"
	".pictures figcaption{font-size:.8em;color:#445;max-width:12em;overflow-wrap:anywhere}\n"
	"#audit td:nth-child(-n+4),#history td:first-child{white-space:nowrap}\n"
	"#audit td{overflow-wrap:anywhere;max-width:24em}#dataset td{overflow-wrap:anywhere}\n";

static const char js[] =
	"'use strict';\n"
	"document.addEventListener('DOMContentLoaded', function () {\n"
	"  document.querySelectorAll('button[data-confirm]').forEach(function (b) {\n"
	"    b.addEventListener('click', function (e) {\n"
	"      if (!window.confirm(b.getAttribute('data-confirm'))) e.preventDefault();\n"
	"    });\n"
	"  });\n"
	"  var f = document.getElementById('filter');\n"
	"  if (!f) return;\n"
	"  var t = document.getElementById(f.getAttribute('data-table'));\n"
	"  f.addEventListener('input', function () {\n"
	"    var w = f.value.toLowerCase();\n"
	"    Array.prototype.slice.call(t.rows, 1).forEach(function (r) {\n"
	"      r.style.display = r.textContent.toLowerCase().indexOf(w) < 0 ? 'none' : '';\n"
	"    });\n"
	"  });\n"
	"});\n";

bool assets__get(const char *url, const char **body, size_t *len, const char **type)
{
	if (strcmp(url, "/static/console.css") == 0) {
		*body = css;
		*len = sizeof(css) - 1;
		*type = "text/css; charset=utf-8";
		return true;
	}
	if (strcmp(url, "/static/console.js") == 0) {
		*body = js;
		*len = sizeof(js) - 1;
		*type = "text/javascript; charset=utf-8";
		return true;
	}
	return false;
}
