#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Self-check of the POP3 side of the test-only mock mail server (tests/MockMailServer).
.DESCRIPTION
    Builds MockMailServer.dll (unless -NoBuild), loads it in-process with Add-Type, drives it with
    python3 clients (poplib, smtplib and raw sockets) and checks mailboxes and recorded sessions.
    Prints one PASS/FAIL line per check and exits 1 if any check failed. -MockServerPath: use that
    MockMailServer.dll instead of building one.
    Run: cd <repo> ; dotnet pwsh -NoProfile -File tests/MockMailServer/selfcheck-pop3.ps1
#>
[CmdletBinding()]
param([switch]$NoBuild, [string]$MockServerPath)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

. (Join-Path $PSScriptRoot 'selfcheck-common.ps1')
Import-MockServer -NoBuild:$NoBuild -Path $MockServerPath

# ---------------------------------------------------------------- python client (modes; the prelude is in selfcheck-common.ps1)
$pythonModes = @'
import hashlib, poplib, smtplib

def text(b):
    return b.decode('utf-8', 'replace') if isinstance(b, bytes) else str(b)

if mode == 'steps':
    # arg: list of [connection, op, args...]; connections are opened by 'connect' (plain) or 'connect_ssl'.
    # Every step yields {'op', 'ok', 'resp', 'lines', 'error'}; RETR/TOP also give 'sha256' and 'octets'.
    conns, results = {}, []
    for step in arg:
        c, op, a = step[0], step[1], step[2:]
        r = {'op': op, 'ok': False, 'resp': None, 'error': None, 'lines': None, 'capa': None, 'sha256': None, 'octets': None}
        try:
            if op == 'connect':
                conns[c] = poplib.POP3(host, port, timeout=10)
                r['resp'] = text(conns[c].getwelcome())
            elif op == 'connect_ssl':
                conns[c] = poplib.POP3_SSL(host, port, timeout=10, context=ctx())
                r['resp'] = text(conns[c].getwelcome())
            elif op == 'drop':
                conns[c].sock.close()
            elif op == 'sleep':
                time.sleep(a[0])
            else:
                p = conns[c]
                if op == 'capa':
                    r['capa'] = {k: v for k, v in p.capa().items()}
                elif op == 'stls':
                    r['resp'] = text(p.stls(context=ctx()))
                elif op == 'apop':
                    r['resp'] = text(p.apop(a[0], a[1]))
                elif op == 'pass':
                    r['resp'] = text(p.pass_(a[0]))
                elif op == 'cmd':
                    r['resp'] = text(p._shortcmd(a[0]))
                elif op == 'long':
                    r['resp'] = text(p._longcmd(a[0])[0])
                elif op in ('retr', 'top'):
                    resp, lines, octets = p.retr(a[0]) if op == 'retr' else p.top(a[0], a[1])
                    data = b'\r\n'.join(lines) + b'\r\n'
                    r['resp'] = text(resp)
                    r['octets'] = octets
                    r['sha256'] = hashlib.sha256(data).hexdigest().upper()
                    r['count'] = len(lines)
                    if len(data) < 100000:
                        r['lines'] = [text(l) for l in lines]
                else:
                    res = getattr(p, op)(*a)
                    if isinstance(res, tuple) and len(res) == 3:
                        r['resp'] = text(res[0]); r['lines'] = [text(l) for l in res[1]]
                    elif isinstance(res, tuple):
                        r['resp'] = ' '.join(str(x) for x in res)
                    else:
                        r['resp'] = text(res)
            r['ok'] = True
        except Exception as e:
            r['ok'] = False
            r['error'] = type(e).__name__ + ': ' + text(e.args[0] if e.args else e)
        results.append(r)
    out({'results': results})

elif mode in ('pipeline', 'lockstep'):
    sock = socket.create_connection((host, port), timeout=10)
    f = sock.makefile('rb')
    def single():
        return f.readline().decode().rstrip('\r\n')
    def multi():
        lines = [single()]
        if lines[0].startswith('+OK'):
            while True:
                l = single()
                lines.append(l)
                if l == '.':
                    break
        return lines
    r = [single()]
    sock.sendall(b'USER alice\r\n'); r.append(single())
    sock.sendall(b'PASS Secr3t!Pa55\r\n'); r.append(single())
    batch = [(b'STAT\r\n', single), (b'LIST\r\n', multi), (b'UIDL\r\n', multi), (b'TOP 1 0\r\n', multi), (b'NOOP\r\n', single)]
    if mode == 'pipeline':
        sock.sendall(b''.join(c for c, _ in batch))
        r.extend(read() for _, read in batch)
    else:
        for c, read in batch:
            sock.sendall(c); r.append(read())
    sock.sendall(b'QUIT\r\n'); r.append(single())
    out({'replies': r})

elif mode == 'never':
    # login, send arg['command'], expect no reply; then report when the server closes the connection
    sock = socket.create_connection((host, port), timeout=5)
    f = sock.makefile('rb')
    f.readline()
    sock.sendall(b'USER alice\r\n'); f.readline()
    sock.sendall(b'PASS Secr3t!Pa55\r\n'); f.readline()
    sock.sendall(arg['command'].encode() + b'\r\n')
    await_close(sock)

elif mode == 'raw':
    # arg: list of lines; sends each with CRLF and reads what arrives within a short time
    sock = socket.create_connection((host, port), timeout=5)
    got = []
    def drain(wait):
        sock.settimeout(wait)
        data = b''
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    data += b'<closed>'
                    break
                data += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            data += b'<reset>'
        return data.decode('utf-8', 'replace')
    got.append(drain(0.5))
    for line in arg:
        sock.sendall(line.encode('utf-8') + b'\r\n')
        got.append(drain(0.5))
    out({'replies': got})

elif mode == 'smtp':
    s = smtplib.SMTP(host, port, timeout=10)
    s.ehlo('client.test')
    msg = 'From: sender@example.com\r\nTo: alice@example.com\r\nSubject: Delivered by SMTP\r\n\r\nHello POP3\r\n.dot line\r\n'
    refused = s.sendmail('sender@example.com', arg['to'], msg)
    s.quit()
    out({'refused': list(refused.keys())})

elif mode == 'trickle':
    trickle_client()
'@

$py = New-PythonClient 'mockmail-selfcheck-pop3' $pythonModes

# the last JSON line of a client started with Start-Client
function Receive-Client([Diagnostics.Process]$Process) {
    $text = $Process.StandardOutput.ReadToEnd()
    [void]$Process.WaitForExit(20000)
    $json = $text -split "`n" | Where-Object { $_.StartsWith('{') } | Select-Object -Last 1
    if (-not $json) { throw "python client failed: $text" }
    return $json | ConvertFrom-Json
}

# runs poplib steps on the plain (or given) port; returns the per-step results
function Invoke-Steps([object[]]$Steps, [int]$Port = $server.Pop3Port) {
    $r = Invoke-Client 'steps' $Port $Steps
    [void]$server.WaitForIdle(5000)
    return @($r.results)
}

function Format-Results($results) { ($results | ForEach-Object { "$($_.op)=" + $(if ($_.ok) { $_.resp } else { "!$($_.error)" }) }) -join ' | ' }

$login = @(@('a', 'connect'), @('a', 'user', 'alice'), @('a', 'pass', 'Secr3t!Pa55'))

$server = [MockMail.MockServer]::new()
try {
    $server.Start()
    Check 'start: four distinct ports' (@($server.SmtpPort, $server.SmtpsPort, $server.Pop3Port, $server.Pop3sPort | Sort-Object -Unique).Count -eq 4 -and $server.Pop3Port -gt 0) "$($server.Pop3Port)/$($server.Pop3sPort)"

    # ---- 1. login, STAT/LIST/UIDL/TOP/RETR, dot-unstuffing
    $uids = $server.AddTestMessages('alice', 2)
    $dotUid = $server.AddMessage('alice', "From: a@example.com`nSubject: dots`n`n.leading dot`n..two dots`nlast line without newline")
    $box = $server.GetMailbox('alice')
    Check 'mailbox: 3 messages, UIDs returned in order' ($box.Count -eq 3 -and $box[0].Uid -eq $uids[0] -and $box[2].Uid -eq $dotUid) (($box | ForEach-Object Uid) -join ',')
    Check 'mailbox: bare LF normalised to CRLF' ([Text.Encoding]::UTF8.GetString($box[2].Data) -eq "From: a@example.com`r`nSubject: dots`r`n`r`n.leading dot`r`n..two dots`r`nlast line without newline" -and $box[2].Size -eq $box[2].Data.Length) ''
    $t1 = [Text.Encoding]::UTF8.GetString($box[0].Data)
    Check 'test messages: headers' ($t1 -match '(?m)^Subject: Test message 1\r$' -and $t1 -match '(?m)^From: .*<sender1@example\.com>\r$' -and $t1 -match '(?m)^To: <alice@example\.com>\r$' -and $t1 -match '(?m)^Message-ID: <1\.mock@example\.com>\r$' -and $t1 -match '(?m)^Date: ') $t1

    $r = Invoke-Steps ($login + @(@('a', 'capa'), @('a', 'stat'), @('a', 'list'), @('a', 'list', 2), @('a', 'uidl'), @('a', 'uidl', 3), @('a', 'top', 1, 1), @('a', 'retr', 3), @('a', 'quit')))
    $s = $server.Pop3Sessions[-1]
    Check 'greeting: +OK text and APOP timestamp' ($r[0].resp -match '^\+OK MockMail POP3 ready <\d+\.\d+@mock\.test>$') $r[0].resp
    Check 'login: USER/PASS' ($r[2].ok -and $r[2].resp -like '+OK*' -and $s.User -eq 'alice' -and $s.AuthMechanism -eq 'USER') (Format-Results $r)
    $capa = $r[3].capa
    Check 'capa: TOP UIDL PIPELINING STLS RESP-CODES USER SASL IMPLEMENTATION' ($null -ne $capa.TOP -and $null -ne $capa.UIDL -and $null -ne $capa.PIPELINING -and $null -ne $capa.STLS -and $null -ne $capa.'RESP-CODES' -and $null -ne $capa.USER -and ($capa.SASL -join ' ') -eq 'PLAIN LOGIN XOAUTH2' -and ($capa.IMPLEMENTATION -join ' ') -eq 'MockMail') ($capa | ConvertTo-Json -Compress)
    $total = ($box | Measure-Object -Property Size -Sum).Sum
    Check 'stat: count and octets' ($r[4].resp -eq "3 $total") $r[4].resp
    Check 'list: sizes' (($r[5].lines -join ',') -eq (($box | ForEach-Object -Begin { $i = 0 } -Process { $i++; "$i $($_.Size)" }) -join ',') -and $r[6].resp -eq "+OK 2 $($box[1].Size)") "$($r[5].lines -join ',') / $($r[6].resp)"
    Check 'uidl: all and one' (($r[7].lines -join ',') -eq "1 $($uids[0]),2 $($uids[1]),3 $dotUid" -and $r[8].resp -eq "+OK 3 $dotUid") "$($r[7].lines -join ',') / $($r[8].resp)"
    Check 'top 1 1: header, blank line, one body line' ($r[9].lines[-1] -eq 'This is test message 1.' -and $r[9].lines[-2] -eq '' -and $r[9].lines[0] -like 'From:*') ($r[9].lines -join ' / ')
    Check 'retr: dot-unstuffed lines, missing final CRLF added' (($r[10].lines -join '|') -eq 'From: a@example.com|Subject: dots||.leading dot|..two dots|last line without newline' -and $r[10].resp -eq "+OK $($box[2].Size) octets") ($r[10].lines -join '|')
    Check 'quit without DELE: committed, nothing deleted' ($s.QuitReceived -and $s.Committed -and $s.DeletedUids.Count -eq 0 -and $server.GetMailbox('alice').Count -eq 3 -and $s.Ended -and -not $s.ClosedByServer) "$s"
    Check 'records: commands verbatim, round trips counted' (($s.Commands -contains 'PASS Secr3t!Pa55') -and ($s.Commands -contains 'TOP 1 1') -and $s.RoundTrips -eq 11) "RoundTrips=$($s.RoundTrips) $($s.Commands -join ' | ')"

    # ---- 2. DELE + QUIT commits; DELE + drop commits nothing; RSET
    $r = Invoke-Steps ($login + @(@('a', 'dele', 1), @('a', 'dele', 1), @('a', 'retr', 1), @('a', 'stat'), @('a', 'drop')))
    $s = $server.Pop3Sessions[-1]
    Check 'dele twice: second -ERR, RETR of a deleted message -ERR' ($r[3].ok -and -not $r[4].ok -and $r[4].error -like '*already deleted*' -and -not $r[5].ok -and $r[6].resp -like '2 *') (Format-Results $r)
    Check 'dele then drop: nothing committed, lock released' (-not $s.Committed -and $s.DeletedUids.Count -eq 0 -and ($s.MarkedUids -join ',') -eq $uids[0] -and $server.GetMailbox('alice').Count -eq 3 -and $s.Ended) "$s"

    $r = Invoke-Steps ($login + @(@('a', 'dele', 2), @('a', 'dele', 3), @('a', 'rset'), @('a', 'stat'), @('a', 'dele', 1), @('a', 'quit')))
    $s = $server.Pop3Sessions[-1]
    $box = $server.GetMailbox('alice')
    Check 'rset: unmarks all' ($r[5].resp -like '+OK*' -and $r[6].resp -eq "3 $total") (Format-Results $r)
    Check 'dele + quit: commit removes the marked message' ($s.Committed -and ($s.DeletedUids -join ',') -eq $uids[0] -and $box.Count -eq 2 -and $box[0].Uid -eq $uids[1] -and $r[8].resp -like '+OK*1 messages deleted*') "$s $($r[8].resp)"

    # ---- 3. snapshot semantics: later additions invisible, removal by another client tolerated
    $server.Reset()
    $a = $server.AddTestMessages('alice', 3)
    # the client logs in, marks 1 and 2, pauses; meanwhile a message arrives and "another client" removes 2
    $p = Start-Client 'steps' $server.Pop3Port ($login + @(@('a', 'stat'), @('a', 'dele', 1), @('a', 'dele', 2), @('a', 'sleep', 1.5), @('a', 'stat'), @('a', 'quit')))
    # until the client has marked both (a fixed pause lost this race on a busy machine); it then
    # waits 1.5 s before its next command
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while (-not ($server.Pop3Sessions | Where-Object { $_.Commands -contains 'DELE 2' }) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
    $late = $server.AddMessage('alice', "Subject: late`r`n`r`nlate`r`n")
    $server.RemoveMessage('alice', $a[1])
    $r = @((Receive-Client $p).results)
    [void]$server.WaitForIdle(5000)
    $s = $server.Pop3Sessions[-1]
    $box = $server.GetMailbox('alice')
    Check 'snapshot: message added after login not visible' ($r[3].resp -like '3 *' -and $r[7].resp -like '1 *') (Format-Results $r)
    Check 'snapshot: commit by UID skips a message removed meanwhile' ($s.Committed -and ($s.DeletedUids -join ',') -eq $a[0] -and $box.Count -eq 2 -and $box[0].Uid -eq $a[2] -and $box[1].Uid -eq $late) "deleted=$($s.DeletedUids -join ',') box=$(($box | ForEach-Object Uid) -join ',')"

    # ---- 4. lock
    $r = Invoke-Steps ($login + @(@('b', 'connect'), @('b', 'user', 'alice'), @('b', 'pass', 'Secr3t!Pa55'), @('a', 'quit'), @('b', 'user', 'alice'), @('b', 'pass', 'Secr3t!Pa55'), @('b', 'stat'), @('b', 'quit')))
    $ss = $server.Pop3Sessions
    Check 'lock: second session -ERR [IN-USE], stays in AUTHORIZATION, works after the first QUIT' (-not $r[5].ok -and $r[5].error -like '*-ERR `[IN-USE`] Mailbox is locked by another session*' -and $r[8].ok -and $r[9].ok -and $ss[-1].User -eq 'alice') (Format-Results $r)
    $server.Pop3.LockMailbox = $false
    $r = Invoke-Steps ($login + @(@('b', 'connect'), @('b', 'user', 'alice'), @('b', 'pass', 'Secr3t!Pa55'), @('b', 'quit'), @('a', 'quit')))
    Check 'lock off: two sessions of one user' ($r[5].ok) (Format-Results $r)
    $server.Pop3.LockMailbox = $true

    # ---- 5. auth errors, APOP, AUTH mechanisms
    $b64 = { param($s) [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($s)) }
    $r = Invoke-Steps @(@('a', 'connect'), @('a', 'pass', 'x'), @('a', 'user', 'alice'), @('a', 'pass', 'wrong'), @('a', 'pass', 'Secr3t!Pa55'), @('a', 'apop', 'alice', 'wrong'), @('a', 'apop', 'alice', 'Secr3t!Pa55'), @('a', 'stat'), @('a', 'quit'))
    $s = $server.Pop3Sessions[-1]
    Check 'user/pass: PASS first -ERR, bad password -ERR [AUTH] Invalid credentials, PASS without USER again -ERR' (-not $r[1].ok -and $r[3].error -like '*-ERR `[AUTH`] Invalid credentials*' -and -not $r[4].ok) (Format-Results $r)
    Check 'apop: bad digest -ERR [AUTH], good digest logs in' (-not $r[5].ok -and $r[5].error -like '*[[]AUTH]*' -and $r[6].ok -and $s.User -eq 'alice' -and $s.AuthMechanism -eq 'APOP' -and $s.AuthAttempts -eq 5) (Format-Results $r)

    $plain = & $b64 "`0alice`0Secr3t!Pa55"
    $r = Invoke-Steps @(@('a', 'connect'), @('a', 'cmd', "AUTH PLAIN $(& $b64 "`0alice`0nope")"), @('a', 'long', 'AUTH'), @('a', 'cmd', 'AUTH CRAM-MD5'), @('a', 'cmd', 'AUTH PLAIN'), @('a', 'cmd', '*'), @('a', 'cmd', "AUTH PLAIN $plain"), @('a', 'stat'), @('a', 'quit'))
    $s = $server.Pop3Sessions[-1]
    Check 'auth plain: bad -ERR [AUTH], AUTH lists, unknown mech -ERR, + then * cancels, initial response logs in' ($r[1].error -like '*-ERR `[AUTH`]*' -and $r[2].resp -like '+OK*' -and -not $r[3].ok -and $r[4].resp -eq '+ ' -and -not $r[5].ok -and $r[5].error -like '*cancelled*' -and $r[6].ok -and $s.AuthMechanism -eq 'PLAIN' -and $s.User -eq 'alice') (Format-Results $r)
    $r = Invoke-Steps @(@('a', 'connect'), @('a', 'cmd', 'AUTH LOGIN'), @('a', 'cmd', (& $b64 'alice')), @('a', 'cmd', (& $b64 'Secr3t!Pa55')), @('a', 'quit'))
    Check 'auth login: + VXNlcm5hbWU6, + UGFzc3dvcmQ6, +OK' ($r[1].resp -eq '+ VXNlcm5hbWU6' -and $r[2].resp -eq '+ UGFzc3dvcmQ6' -and $r[3].resp -like '+OK*' -and $server.Pop3Sessions[-1].AuthMechanism -eq 'LOGIN') (Format-Results $r)
    $good = & $b64 "user=alice`u{1}auth=Bearer ya29.TestToken-abc123`u{1}`u{1}"
    $bad = & $b64 "user=alice`u{1}auth=Bearer nope`u{1}`u{1}"
    $r = Invoke-Steps @(@('a', 'connect'), @('a', 'cmd', "AUTH XOAUTH2 $bad"), @('a', 'cmd', ''), @('a', 'cmd', "AUTH XOAUTH2 $good"), @('a', 'quit'))
    $json = if ($r[1].resp -like '+ *') { [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($r[1].resp.Substring(2))) } else { '' }
    Check 'xoauth2: bad token + json then -ERR [AUTH], good token +OK' ($json -like '*"status":"401"*' -and $r[2].error -like '*-ERR `[AUTH`]*' -and $r[3].resp -like '+OK*' -and $server.Pop3Sessions[-1].AuthMechanism -eq 'XOAUTH2') (Format-Results $r)

    # ---- 6. STLS and implicit TLS
    $r = Invoke-Steps @(@('a', 'connect'), @('a', 'stls'), @('a', 'capa'), @('a', 'user', 'alice'), @('a', 'pass', 'Secr3t!Pa55'), @('a', 'stat'), @('a', 'quit'))
    $s = $server.Pop3Sessions[-1]
    Check 'stls: +OK Begin TLS negotiation, then login over TLS' ($r[1].resp -eq '+OK Begin TLS negotiation' -and $r[4].ok -and $s.Tls -and $s.TlsProtocol -and -not $s.ImplicitTls -and $s.User -eq 'alice') (Format-Results $r)
    Check 'stls: CAPA after TLS has no STLS' ($r[2].ok -and $null -eq $r[2].capa.PSObject.Properties['STLS'] -and $null -ne $r[2].capa.PSObject.Properties['USER']) ($r[2].capa | ConvertTo-Json -Compress)
    $r = Invoke-Steps @(@('a', 'connect_ssl'), @('a', 'capa'), @('a', 'user', 'alice'), @('a', 'pass', 'Secr3t!Pa55'), @('a', 'stat'), @('a', 'quit')) $server.Pop3sPort
    $s = $server.Pop3Sessions[-1]
    Check 'implicit TLS: greeting after handshake, login, no STLS' ($r[0].resp -like '+OK MockMail POP3 ready <*' -and $r[3].ok -and $s.ImplicitTls -and $s.Tls -and $null -eq $r[1].capa.PSObject.Properties['STLS']) (Format-Results $r)

    # ---- 7. options
    $server.Pop3.AuthRequiresTls = $true
    $server.Pop3.StlsFails = $true
    $r = Invoke-Steps @(@('a', 'connect'), @('a', 'user', 'alice'), @('a', 'cmd', "AUTH PLAIN $plain"), @('a', 'cmd', 'STLS'), @('a', 'quit'))
    Check 'options: AuthRequiresTls -ERR [AUTH], StlsFails -ERR' ($r[1].error -like '*-ERR `[AUTH`] Plaintext authentication disallowed*' -and $r[2].error -like '*-ERR `[AUTH`]*' -and -not $r[3].ok) (Format-Results $r)
    $server.Pop3.AuthRequiresTls = $false
    $server.Pop3.StlsFails = $false
    $server.Pop3.Capa = $false
    $server.Pop3.RespCodes = $false
    $server.Pop3.Apop = $false
    $server.Pop3.SaslMechanisms = @()
    $r = Invoke-Steps @(@('a', 'connect'), @('a', 'cmd', 'CAPA'), @('a', 'cmd', 'AUTH PLAIN'), @('a', 'user', 'alice'), @('a', 'pass', 'bad'), @('a', 'quit'))
    Check 'options: Capa off -ERR, no APOP timestamp, no SASL, no resp codes' ($r[0].resp -eq '+OK MockMail POP3 ready' -and -not $r[1].ok -and -not $r[2].ok -and $r[4].error -like '*-ERR Invalid credentials*') (Format-Results $r)
    $server.Reset()
    Check 'reset: POP3 options, sessions and mailboxes cleared, users kept' ($server.Pop3.Capa -and $server.Pop3.RespCodes -and $server.Pop3.SaslMechanisms.Count -eq 3 -and $server.Pop3Sessions.Count -eq 0 -and $server.Pop3ConnectionCount -eq 0 -and $server.GetMailbox('alice').Count -eq 0 -and $server.Users['alice'] -eq 'Secr3t!Pa55' -and $server.DeliverToMailboxes) ''

    # ---- 8. protocol details: unknown command, long line, wrong state, rules
    $null = $server.AddTestMessages('alice', 2)
    $long = 'NOOP ' + ('x' * 300)
    $r = Invoke-Steps ($login + @(@('a', 'cmd', 'FOO'), @('a', 'cmd', $long), @('a', 'cmd', 'USER bob'), @('a', 'cmd', 'LIST 9'), @('a', 'cmd', 'RETR x'), @('a', 'noop'), @('a', 'quit')))
    Check 'errors: unknown command, line too long, wrong state, no such message, bad number; session goes on' ($r[3].error -like '*-ERR Unknown command*' -and $r[4].error -like '*-ERR Line too long*' -and $r[5].error -like '*not valid in this state*' -and $r[6].error -like '*No such message*' -and $r[7].error -like '*Invalid message number*' -and $r[8].ok) (Format-Results $r)
    $line254 = 'NOOP ' + ('y' * 248)   # 253 octets + CRLF = 255: allowed
    $r = Invoke-Steps ($login + @(@('a', 'cmd', $line254), @('a', 'quit')))
    Check 'line limit: 255 octets including CRLF accepted' ($r[3].ok) (Format-Results $r)

    $null = $server.Pop3ReplyTo('DELE', '2', '-ERR [SYS/TEMP] cannot delete', 1)
    $rawRule = $server.Pop3SendRaw('NOOP', 'garbage without line end', 1)
    $r = Invoke-Client 'raw' $server.Pop3Port @('USER alice', 'PASS Secr3t!Pa55', 'DELE 2', 'DELE 2', 'NOOP', 'NOOP', 'QUIT')
    [void]$server.WaitForIdle(5000)
    $s = $server.Pop3Sessions[-1]
    Check 'reply rule: DELE 2 -> -ERR [SYS/TEMP] once, then +OK' ($r.replies[3] -eq "-ERR [SYS/TEMP] cannot delete`r`n" -and $r.replies[4] -like '+OK Message 2 deleted*') ($r.replies -join ' | ')
    Check 'send raw: text as-is, then the session goes on' ($r.replies[5] -eq 'garbage without line end' -and $r.replies[6] -eq "+OK`r`n" -and $rawRule.Hits -eq 1 -and $s.Committed -and $s.DeletedUids.Count -eq 1) ($r.replies -join ' | ')

    $null = $server.Pop3ReplyThenClose('CONNECT', $null, '-ERR [SYS/TEMP] Too busy', 1)
    $r = Invoke-Client 'raw' $server.Pop3Port @()
    Check 'connect rule: -ERR greeting then close' ($r.replies[0] -eq "-ERR [SYS/TEMP] Too busy`r`n<closed>") ($r.replies -join ' | ')

    $null = $server.Pop3CloseOn('STAT', $null, 1)
    $r = Invoke-Steps ($login + , @('a', 'stat'))
    Check 'close rule: connection closed instead of a reply' (-not $r[3].ok -and $server.Pop3Sessions[-1].ClosedByServer -and -not $server.Pop3Sessions[-1].Committed) (Format-Results $r)

    # ---- 9. CloseMidRetr
    $server.Reset()
    $null = $server.AddLargeMessage('alice', 300000)
    $rule = $server.Pop3CloseMidRetr('1', 5000, 1)
    $r = Invoke-Steps ($login + , @('a', 'retr', 1))
    $s = $server.Pop3Sessions[-1]
    Check 'close mid retr: client error, session closed by server, rule hit' (-not $r[3].ok -and $s.ClosedByServer -and -not $s.Committed -and $rule.Hits -eq 1) (Format-Results $r)
    $null = $server.Pop3CloseMidRetr($null, 1000, 1)
    $r = Invoke-Client 'raw' $server.Pop3Port @('USER alice', 'PASS Secr3t!Pa55', 'RETR 1')
    $got = $r.replies[3] -replace '<(closed|reset)>$', ''
    $first = ($got -split "`r`n")[0]
    $content = $got.Length - $first.Length - 2
    Check 'close mid retr: +OK line and exactly 1000 message bytes, then the connection ends' ($first -like '+OK * octets' -and $r.replies[3] -match '<(closed|reset)>$' -and $content -eq 1000 -and -not $got.EndsWith("`r`n.`r`n")) "content=$content end=$($r.replies[3].Substring($r.replies[3].Length - 10))"

    # ---- 10. pipelining round trips
    $server.Reset()
    $null = $server.AddTestMessages('alice', 2)
    $r = Invoke-Client 'pipeline' $server.Pop3Port
    [void]$server.WaitForIdle(5000)
    $pipe = $server.Pop3Sessions[-1].RoundTrips
    $r2 = Invoke-Client 'lockstep' $server.Pop3Port
    [void]$server.WaitForIdle(5000)
    $step = $server.Pop3Sessions[-1].RoundTrips
    Check 'pipeline: STAT/LIST/UIDL/TOP/NOOP batch answered together' ($r.replies.Count -eq 9 -and $r.replies[3] -like '+OK 2 *' -and $r.replies[4][-1] -eq '.' -and $r.replies[7] -eq '+OK' -and $r.replies[8] -like '+OK*') ($r.replies | ConvertTo-Json -Compress)
    Check 'pipeline: batch = 1 round trip (greeting, USER, PASS, batch = 4); lockstep = 8' ($pipe -eq 4 -and $step -eq 8) "pipeline=$pipe lockstep=$step"

    # ---- 11. 20 MB message: streamed from a temp file, retrieved intact, mock memory does not grow by 20 MB
    $server.Reset()
    [GC]::Collect(); [GC]::WaitForPendingFinalizers(); [GC]::Collect()
    $alloc0 = [GC]::GetTotalAllocatedBytes($true)
    $heap0 = [GC]::GetTotalMemory($true)
    $uid = $server.AddLargeMessage('alice', 20MB)
    $m = $server.GetMailbox('alice')[0]
    $r = Invoke-Steps ($login + @(@('a', 'list', 1), @('a', 'retr', 1), @('a', 'quit')))
    $alloc = [GC]::GetTotalAllocatedBytes($true) - $alloc0
    $heap = [GC]::GetTotalMemory($true) - $heap0
    $hash = (Get-FileHash -LiteralPath $m.FilePath -Algorithm SHA256).Hash
    Check 'large: file-backed, about 20 MB' ($null -eq $m.Data -and (Test-Path -LiteralPath $m.FilePath) -and [Math]::Abs($m.Size - 20MB) -lt 100 -and (Get-Item -LiteralPath $m.FilePath).Length -eq $m.Size) "size=$($m.Size)"
    Check 'large: retrieved intact (SHA-256 equal)' ($r[4].ok -and $r[4].sha256 -eq $hash -and $r[3].resp -eq "+OK 1 $($m.Size)") "$($r[4].sha256) vs $hash"
    Check 'large: mock allocated < 8 MB and heap grew < 8 MB for a 20 MB message' ($alloc -lt 8MB -and $heap -lt 8MB) ("allocated={0:N0} heap={1:N0}" -f $alloc, $heap)
    $file = $m.FilePath
    $server.Reset()
    Check 'large: Reset deletes the temp file' (-not (Test-Path -LiteralPath $file)) $file
    $small = $server.AddLargeMessage('alice', 100000)
    $m = $server.GetMailbox('alice')[0]
    Check 'large: small one in memory, size about right' ($null -ne $m.Data -and $null -eq $m.FilePath -and [Math]::Abs($m.Size - 100000) -lt 100) "size=$($m.Size)"

    # ---- 12. AddMessageFile, explicit UID
    $eml = Join-Path ([IO.Path]::GetTempPath()) "mockmail-selfcheck-$PID.eml"
    [IO.File]::WriteAllText($eml, "Subject: from file`n`nbody`n")
    $fuid = $server.AddMessageFile('bob', $eml)
    Remove-Item -LiteralPath $eml
    $xuid = $server.AddMessage('bob', 'custom-uid-1', [Text.Encoding]::ASCII.GetBytes("Subject: x`r`n`r`ny`r`n"))
    $dup = try { $server.AddMessage('bob', 'custom-uid-1', [byte[]]@(65)); $false } catch { $true }
    $box = $server.GetMailbox('bob')
    Check 'add file + explicit UID, duplicate UID refused' ($box.Count -eq 2 -and $box[0].Uid -eq $fuid -and [Text.Encoding]::UTF8.GetString($box[0].Data) -eq "Subject: from file`r`n`r`nbody`r`n" -and $xuid -eq 'custom-uid-1' -and $box[1].Uid -eq 'custom-uid-1' -and $dup) (($box | ForEach-Object Uid) -join ',')

    # ---- 13. DeliverToMailboxes
    $server.Reset()
    $server.Users['bob'] = 'pw'
    $r = Invoke-Client 'smtp' $server.SmtpPort @{ to = @('alice@example.com', 'bob@other.test', 'carol@example.com') }
    $a = $server.GetMailbox('alice'); $b = $server.GetMailbox('bob'); $c = $server.GetMailbox('carol')
    $text = if ($a.Count) { [Text.Encoding]::UTF8.GetString($a[0].Data) } else { '' }
    Check 'deliver: SMTP message lands in alice and bob mailboxes, not carol' ($server.Messages.Count -eq 1 -and $a.Count -eq 1 -and $b.Count -eq 1 -and $c.Count -eq 0 -and $text -match 'Subject: Delivered by SMTP' -and $text.EndsWith(".dot line`r`n")) $text
    $r = Invoke-Steps ($login + @(@('a', 'retr', 1), @('a', 'quit')))
    Check 'deliver: retrieved over POP3' ($r[3].ok -and $r[3].lines -contains 'Hello POP3' -and $r[3].lines -contains '.dot line') (Format-Results $r)
    $server.DeliverToMailboxes = $false
    $null = Invoke-Client 'smtp' $server.SmtpPort @{ to = @('alice@example.com') }
    Check 'deliver off: mailbox unchanged' ($server.Messages.Count -eq 2 -and $server.GetMailbox('alice').Count -eq 1) ''
    $server.Users.Remove('bob') | Out-Null

    # ---- 14. idle timeout (RFC 1939: close without a response) and DisconnectAll
    $server.Reset()
    $server.Pop3.IdleTimeoutSeconds = 1
    $r = Invoke-Client 'never' $server.Pop3Port @{ command = 'NOOP' }   # NOOP is answered, then the client idles
    [void]$server.WaitForIdle(5000)
    $s = $server.Pop3Sessions[-1]
    Check 'idle timeout: closed by server without a response, Error recorded' ($r.closed -and $r.secs -lt 3 -and $s.ClosedByServer -and $s.Error -eq 'Idle timeout' -and $s.Ended) "$($r | ConvertTo-Json -Compress) $($s.Error)"
} catch {
    Write-UnexpectedError $_
} finally {
    $server.Dispose()
}

# ---- 14b. Pop3Trickle: greeting and RETR arrive byte by byte, then the session goes on; Stop() ends it promptly
$server = [MockMail.MockServer]::new()
$proc = $null
try {
    $server.Start()
    $server.Pop3.Greeting = 'x'
    $server.Pop3.Apop = $false                                     # '+OK x' + CRLF: 7 bytes
    $rule = $server.Pop3Trickle('CONNECT', 200, 1)
    $r = Invoke-Client 'trickle' $server.Pop3Port @{ after = 'USER alice' }
    Check 'trickle: POP3 greeting text' ($r.text -eq "+OK x`r`n") ($r | ConvertTo-Json -Compress)
    Test-Trickled 'trickle: POP3 greeting' $r 200
    Check 'trickle: POP3 goes on normally (USER gets +OK)' ($r.after -like '+OK*') "$($r.after)"
    Check 'trickle: POP3 rule hit once' ($rule.Hits -eq 1) "$($rule.Hits)"

    $null = $server.AddMessage('alice', "Subject: t`n`n.hi`n")
    $null = $server.Pop3Trickle('RETR', 20, 1)
    $r = Invoke-Client 'trickle' $server.Pop3Port @{ cmd = 'RETR 1'; pre = @('USER alice', 'PASS Secr3t!Pa55'); end = "`r`n.`r`n"; after = 'STAT' }
    Check 'trickle: POP3 RETR status line and message' ($r.text -match '^\+OK.*\r\nSubject: t\r\n\r\n\.\.hi\r\n\.\r\n$') ($r | ConvertTo-Json -Compress)
    Test-Trickled 'trickle: POP3 RETR' $r 20
    Check 'trickle: POP3 goes on normally after RETR (STAT)' ($r.after -like '+OK 1 *') "$($r.after)"
    Check 'trickle: POP3 sessions without Error' ($server.WaitForIdle(5000) -and -not ($server.Pop3Sessions | Where-Object { $_.Error })) (($server.Pop3Sessions | ForEach-Object { "$($_.Error)" }) -join '; ')

    $null = $server.Pop3Trickle('CONNECT', 1000, 1)
    $proc = Start-Client 'trickle' $server.Pop3Port @{ stop = $true }
    Test-StopDuringTrickle $proc
    Check 'trickle: POP3 session ended by Stop()' ($server.ActiveSessionCount -eq 0 -and $server.Pop3Sessions[-1].Ended -and -not $server.Pop3Sessions[-1].Error) "err=$($server.Pop3Sessions[-1].Error)"
} catch {
    Write-UnexpectedError $_
} finally {
    $server.Dispose()
    if ($proc -and -not $proc.HasExited) { $proc.Kill() }
}

# ---- 15. NeverReply / Delay: clients time out, Stop() returns promptly, no commit, lock gone
$server = [MockMail.MockServer]::new()
$procs = @()
try {
    $server.Start()
    $null = $server.AddTestMessages('alice', 1)
    $server.Users['bob'] = 'pw'
    $null = $server.Pop3NeverReply('STAT', -1)
    $null = $server.Pop3Delay('NOOP', 60000, -1)
    $server.Pop3.LockMailbox = $false
    foreach ($cmd in @('STAT', 'NOOP')) {
        $procs += Start-Client 'never' $server.Pop3Port @{ command = $cmd }
        $first = $procs[-1].StandardOutput.ReadLine() | ConvertFrom-Json
        Check "hang: client timed out waiting for the $cmd reply" ($first.result -eq 'timeout') "$($first.result)"
    }
    Check 'hang: two sessions still open' ($server.ActiveSessionCount -eq 2) "$($server.ActiveSessionCount)"
    Test-StopClosesClients $procs
    $sessions = $server.Pop3Sessions
    Check 'hang: sessions ended, ClosedByServer, nothing committed' ($server.ActiveSessionCount -eq 0 -and $sessions.Count -eq 2 -and -not ($sessions | Where-Object { -not $_.Ended -or -not $_.ClosedByServer -or $_.Committed })) (($sessions | ForEach-Object { "$($_.Id) ended=$($_.Ended) closed=$($_.ClosedByServer)" }) -join '; ')
    Check 'hang: mailbox untouched' ($server.GetMailbox('alice').Count -eq 1) ''

    $server.Reset()
    $server.Start()
    $null = $server.AddTestMessages('alice', 1)
    $r = Invoke-Steps ($login + @(@('a', 'stat'), @('a', 'quit')))
    Check 'restart: POP3 serves again after Stop()/Start()' ($r[3].resp -like '1 *') (Format-Results $r)
} catch {
    Write-UnexpectedError $_
} finally {
    $server.Dispose()
    foreach ($p in $procs) { if (-not $p.HasExited) { $p.Kill() } }
    Remove-Item -LiteralPath $py -ErrorAction SilentlyContinue
}

Complete-SelfCheck
