#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Check cnvme's Documentation/ for "make lint" (scripts/lint.sh).

  doccheck.py rst DOCDIR
      Parse every DOCDIR/*.rst with docutils; any system message at WARNING
      level or above is a failure.  docutils does not know Sphinx's toctree
      directive, so it is registered here: its entries must name an existing
      page (DOCDIR/ENTRY.rst), and every page other than index.rst must be
      listed by index.rst's toctree.  Every page must start with the SPDX line.

  doccheck.py params DOCDIR/parameters.rst KO
      Compare the parameters documented in parameters.rst (a definition list
      whose terms are the names, each with a ":Default:" field) with
      "modinfo -p KO": a parameter missing from either side, a
      MODULE_PARM_DESC that states no "(default X", or a default that differs
      from the page's fails.
"""

import os
import re
import shutil
import subprocess
import sys

SPDX = '.. SPDX-License-Identifier: GPL-2.0'


def fail(msgs):
    for m in msgs:
        print(m)
    return 1 if msgs else 0


def check_rst(docdir):
    try:
        import docutils.core
        import docutils.nodes
        import docutils.utils
        from docutils.parsers.rst import Directive, directives
    except ImportError:
        print('python3-docutils is not installed: run scripts/host-setup.sh '
              'or apt-get install --no-install-recommends python3-docutils')
        return 1

    problems = []
    toctrees = {}

    class TocTree(Directive):
        """Sphinx's toctree, reduced to what plain docutils can check."""
        has_content = True
        option_spec = {'maxdepth': directives.nonnegative_int,
                       'caption': directives.unchanged,
                       'numbered': directives.flag,
                       'hidden': directives.flag,
                       'glob': directives.flag}

        def run(self):
            src = self.state.document.current_source
            entries = [e.strip() for e in self.content if e.strip()]
            toctrees.setdefault(src, []).extend(entries)
            for e in entries:
                if not os.path.isfile(os.path.join(docdir, e + '.rst')):
                    problems.append('%s:%d: toctree entry "%s": no %s.rst' %
                                    (src, self.lineno, e, e))
            return []

    directives.register_directive('toctree', TocTree)

    class Stream:
        def write(self, text):
            text = text.rstrip('\n')
            if text:
                problems.append(text)

    pages = sorted(f for f in os.listdir(docdir) if f.endswith('.rst'))
    if not pages:
        problems.append('%s: no .rst page' % docdir)
    for page in pages:
        path = os.path.join(docdir, page)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        if text.split('\n', 1)[0] != SPDX:
            problems.append('%s:1: first line is not "%s"' % (path, SPDX))
        try:
            docutils.core.publish_doctree(
                text, source_path=path,
                settings_overrides={'report_level': 2, 'halt_level': 5,
                                    'warning_stream': Stream(),
                                    'file_insertion_enabled': False,
                                    'raw_enabled': False})
        except docutils.utils.SystemMessage as e:
            problems.append(str(e))

    index = os.path.join(docdir, 'index.rst')
    listed = set(toctrees.get(index, []))
    if 'index.rst' not in pages:
        problems.append('%s: missing' % index)
    for page in pages:
        name = page[:-len('.rst')]
        if page != 'index.rst' and name not in listed:
            problems.append('%s: not in the toctree of %s' %
                            (os.path.join(docdir, page), index))
    if not problems:
        print('%d page(s) clean' % len(pages))
    return fail(problems)


def doc_params(path):
    """Name -> (line, default) from the definition list of parameters.rst."""
    params = {}
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    for i, line in enumerate(lines):
        m = re.match(r'^([a-z_][a-z0-9_]*)$', line)
        if not m or i + 1 >= len(lines):
            continue
        d = re.match(r'^\s+:Default:\s*(\S+)\s*$', lines[i + 1])
        if d:
            params[m.group(1)] = (i + 1, d.group(1))
    return params


def check_params(rst, ko):
    problems = []
    doc = doc_params(rst)
    if not doc:
        return fail(['%s: no parameter found (a term line, then ":Default:")'
                     % rst])
    try:
        modinfo = shutil.which('modinfo') or '/usr/sbin/modinfo'
        out = subprocess.run([modinfo, '-p', ko], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        return fail(['modinfo -p %s: %s' % (ko, e)])
    mod = {}
    for line in out.splitlines():
        name, sep, desc = line.partition(':')
        if not sep:
            continue
        m = re.search(r'\(default ([^\s),;:]+)', desc)
        mod[name] = m.group(1) if m else None
    if not mod:
        problems.append('modinfo -p %s: no parameter' % ko)
    for name in sorted(set(mod) - set(doc)):
        problems.append('%s: parameter %s of %s is not documented' %
                        (rst, name, os.path.basename(ko)))
    for name in sorted(set(doc) - set(mod)):
        problems.append('%s:%d: %s is not a parameter of %s' %
                        (rst, doc[name][0], name, os.path.basename(ko)))
    for name in sorted(set(doc) & set(mod)):
        line, default = doc[name]
        if mod[name] is None:
            problems.append('%s: MODULE_PARM_DESC(%s) states no "(default X"'
                            % (os.path.basename(ko), name))
        elif mod[name] != default:
            problems.append('%s:%d: %s: default %s, but MODULE_PARM_DESC '
                            'says %s' % (rst, line + 1, name, default,
                                         mod[name]))
    if not problems:
        print('%d parameter(s) match modinfo -p' % len(doc))
    return fail(problems)


def main(argv):
    if len(argv) == 3 and argv[1] == 'rst':
        return check_rst(argv[2])
    if len(argv) == 4 and argv[1] == 'params':
        return check_params(argv[2], argv[3])
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
