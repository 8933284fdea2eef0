#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Self-check of the test-only mock SMTP server (tests/MockMailServer).
.DESCRIPTION
    Builds MockMailServer.dll (unless -NoBuild), loads it in-process with Add-Type, drives it with
    python3 clients (smtplib and raw sockets) and checks the recorded sessions.
    Prints one PASS/FAIL line per check and exits 1 if any check failed. -MockServerPath: use that
    MockMailServer.dll instead of building one.
    Run: cd <repo> ; dotnet pwsh -NoProfile -File tests/MockMailServer/selfcheck.ps1
#>
[CmdletBinding()]
param([switch]$NoBuild, [string]$MockServerPath)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

. (Join-Path $PSScriptRoot 'selfcheck-common.ps1')
Import-MockServer -NoBuild:$NoBuild -Path $MockServerPath

# ---------------------------------------------------------------- python client (modes; the prelude is in selfcheck-common.ps1)
$pythonModes = @'
import smtplib

def reader(sock):
    f = sock.makefile('rb')
    def reply():
        lines = []
        while True:
            l = f.readline()
            if not l:
                lines.append('<closed>')
                return lines
            l = l.decode('utf-8', 'replace')
            lines.append(l.rstrip('\r\n'))
            if len(l) < 4 or l[3] != '-':
                return lines
    return reply

if mode == 'send':
    s = smtplib.SMTP(host, port, timeout=10)
    s.ehlo('client.test')
    s.starttls(context=ctx())
    s.ehlo('client.test')
    s.login('alice', 'Secr3t!Pa55')
    msg = 'From: sender@example.com\r\nTo: carol@example.com\r\nSubject: Self-check\r\n\r\nHello\r\n.leading dot\r\n'
    refused = s.sendmail('sender@example.com', ['carol@example.com', 'bob@example.com'], msg)
    s.quit()
    out({'refused': {k: [v[0], v[1].decode()] for k, v in refused.items()}})

elif mode == 'implicit':
    s = smtplib.SMTP_SSL(host, port, timeout=10, context=ctx())
    s.ehlo('implicit.test')
    s.login('alice', 'Secr3t!Pa55')
    s.sendmail('sender@example.com', ['dave@example.com'], 'Subject: implicit\r\n\r\nbody\r\n')
    s.quit()
    out({'result': 'ok'})

elif mode == 'middata':
    s = smtplib.SMTP(host, port, timeout=10)
    s.ehlo('mid.test')
    body = 'Subject: big\r\n\r\n' + ('x' * 76 + '\r\n') * 2000
    try:
        s.sendmail('sender@example.com', ['erin@example.com'], body)
        out({'result': 'sent'})
    except Exception as e:
        out({'result': type(e).__name__})

elif mode == 'never':
    # raw socket so the connection stays open after the client-side timeout;
    # arg: command to send after the greeting ('' = expect no greeting at all)
    sock = socket.create_connection((host, port), timeout=5)
    if arg:
        reader(sock)()
        sock.sendall(arg.encode() + b'\r\n')
    await_close(sock)

elif mode == 'inject':
    # plaintext pipelined after STARTTLS must be discarded by the server
    sock = socket.create_connection((host, port), timeout=10)
    reply = reader(sock)
    r = [reply()]
    sock.sendall(b'EHLO before.test\r\n'); r.append(reply())
    sock.sendall(b'STARTTLS\r\nEHLO injected.test\r\n'); r.append(reply())
    tls = ctx().wrap_socket(sock, server_hostname='localhost')
    reply = reader(tls)
    tls.sendall(b'EHLO after.test\r\n'); r.append(reply())
    tls.sendall(b'QUIT\r\n'); r.append(reply())
    out({'replies': r, 'version': tls.version()})

elif mode in ('pipeline', 'lockstep'):
    sock = socket.create_connection((host, port), timeout=10)
    reply = reader(sock)
    r = [reply()]
    sock.sendall(b'EHLO pipe.test\r\n'); r.append(reply())
    batch = [b'MAIL FROM:<a@example.com>\r\n', b'RCPT TO:<b@example.com>\r\n', b'RCPT TO:<c@example.com>\r\n', b'DATA\r\n']
    if mode == 'pipeline':
        sock.sendall(b''.join(batch))
        r.extend(reply() for _ in batch)
    else:
        for c in batch:
            sock.sendall(c); r.append(reply())
    sock.sendall(b'Subject: pipelined\r\n\r\nbody\r\n.\r\n'); r.append(reply())
    sock.sendall(b'QUIT\r\n'); r.append(reply())
    out({'replies': r})

elif mode == 'chat':
    # arg: a list of lines; each is sent with CRLF, then one reply is read
    lines = arg
    sock = socket.create_connection((host, port), timeout=5)
    reply = reader(sock)
    # markers: '<nogreeting>' (first item) = do not read a greeting; '<wait>' = read a reply, send nothing
    res = []
    try:
        if lines[:1] == ['<nogreeting>']:
            lines = lines[1:]
        else:
            res.append(reply())
        for line in lines:
            if line != '<wait>':
                sock.sendall(line.encode('utf-8') + b'\r\n')
            res.append(reply())
    except Exception as e:
        res.append(['<' + type(e).__name__ + '>'])
    out({'replies': res})

elif mode == 'trickle':
    trickle_client()
'@

$py = New-PythonClient 'mockmail-selfcheck' $pythonModes

# first line of each reply, for compact comparisons
function Get-Codes($result) { @($result.replies | ForEach-Object { ($_[-1] -split ' ')[0] }) }

$server = [MockMail.MockServer]::new()
try {
    $server.Start()
    Check 'start: ports bound' ($server.SmtpPort -gt 0 -and $server.SmtpsPort -gt 0 -and $server.SmtpPort -ne $server.SmtpsPort) "$($server.SmtpPort)/$($server.SmtpsPort)"
    $cert = $server.Certificate
    Check 'certificate: CN=localhost, private key, 30 days' ($cert.Subject -eq 'CN=localhost' -and $cert.HasPrivateKey -and ($cert.NotAfter - (Get-Date)).TotalDays -gt 29) $cert.Subject

    # ---- 1. STARTTLS + AUTH PLAIN + one recipient rejected by a rule
    $rule = $server.ReplyTo('RCPT', 'bob@', '550 5.1.1 No such user', 1)
    $r = Invoke-Client 'send' $server.SmtpPort
    $refused = $r.refused.PSObject.Properties['bob@example.com']
    Check 'send: smtplib reports bob refused with 550' ($null -ne $refused -and $refused.Value[0] -eq 550) ($r | ConvertTo-Json -Compress)
    Check 'send: rule fired once' ($rule.Hits -eq 1 -and $rule.Times -eq 0) "$rule"
    $s = $server.SmtpSessions[-1]
    [void]$server.WaitForIdle(5000)
    Check 'send: session TLS after STARTTLS' ($s.Tls -and $s.TlsProtocol -like 'Tls1*' -and -not $s.ImplicitTls) "$($s.Tls) $($s.TlsProtocol)"
    Check 'send: AuthUser alice via PLAIN' ($s.AuthUser -eq 'alice' -and $s.AuthMechanism -eq 'PLAIN' -and $s.AuthAttempts -eq 1) "$($s.AuthUser) $($s.AuthMechanism)"
    Check 'send: EHLO name, QUIT, not closed by server' ($s.EhloName -eq 'client.test' -and $s.QuitReceived -and -not $s.ClosedByServer -and $s.Ended) "$s"
    Check 'send: commands recorded' (($s.Commands -contains 'STARTTLS') -and ($s.Commands -contains 'QUIT') -and ($s.Commands | Where-Object { $_ -like 'AUTH PLAIN *' })) ($s.Commands -join ' | ')
    Check 'send: RoundTrips > 0' ($s.RoundTrips -gt 0) "$($s.RoundTrips)"
    Check 'send: one message recorded' ($server.Messages.Count -eq 1) "$($server.Messages.Count)"
    $m = $server.Messages[0]
    Check 'send: message TLS + AuthUser' ($m.Tls -and $m.AuthUser -eq 'alice' -and $m.SessionId -eq $s.Id) "$m"
    Check 'send: MailFrom and SIZE parameter' ($m.MailFrom -eq 'sender@example.com' -and $m.MailParameters.ContainsKey('size')) ($m.MailParameters.Keys -join ',')
    $bob = $m.Recipients | Where-Object Address -eq 'bob@example.com'
    Check 'send: two recipients, bob rejected with rule reply' ($m.Recipients.Count -eq 2 -and -not $bob.Accepted -and $bob.Reply -eq '550 5.1.1 No such user') ($m.Recipients -join '; ')
    Check 'send: AcceptedRecipients = carol' ($m.AcceptedRecipients.Count -eq 1 -and $m.AcceptedRecipients[0] -eq 'carol@example.com') ($m.AcceptedRecipients -join ',')
    Check 'send: Data unstuffed, no final CRLF' ($m.DataText.Contains("Subject: Self-check`r`n") -and $m.DataText.EndsWith("Hello`r`n.leading dot") -and $m.Data.Length -eq [Text.Encoding]::UTF8.GetByteCount($m.DataText)) ($m.DataText | ConvertTo-Json)
    Check 'send: Completed with queue id' ($m.Completed -and $m.FinalReply -like '250 2.0.0 Ok: queued as *' -and $m.QueueId) "$($m.FinalReply)"

    # ---- 2. pipelining round trips
    $server.Reset()
    $r = Invoke-Client 'pipeline' $server.SmtpPort
    [void]$server.WaitForIdle(5000)
    Check 'pipeline: replies 220 250 250 250 250 354 250 221' ((Get-Codes $r) -join ' ' -eq '220 250 250 250 250 354 250 221') ((Get-Codes $r) -join ' ')
    Check 'pipeline: MAIL/RCPT/RCPT/DATA batch = 1 round trip (total 4)' ($server.SmtpSessions[0].RoundTrips -eq 4) "RoundTrips=$($server.SmtpSessions[0].RoundTrips)"
    $r = Invoke-Client 'lockstep' $server.SmtpPort
    [void]$server.WaitForIdle(5000)
    Check 'lockstep: same commands one by one = 7 round trips' ($server.SmtpSessions[1].RoundTrips -eq 7) "RoundTrips=$($server.SmtpSessions[1].RoundTrips)"
    Check 'pipeline: both messages recorded' ($server.Messages.Count -eq 2 -and $server.Messages[0].AcceptedRecipients.Count -eq 2) "$($server.Messages.Count)"

    # ---- 3. CloseMidData
    $server.Reset()
    $rule = $server.CloseMidData(1000, 1)
    $r = Invoke-Client 'middata' $server.SmtpPort
    [void]$server.WaitForIdle(5000)
    Check 'middata: client sees an error' ($r.result -ne 'sent') "$($r.result)"
    $s = $server.SmtpSessions[0]
    $t = $s.Transactions
    Check 'middata: transaction not completed, no data' ($t.Count -eq 1 -and -not $t[0].Completed -and $null -eq $t[0].Data -and $null -eq $t[0].FinalReply) "$($t.Count)"
    Check 'middata: closed by server, no message' ($s.ClosedByServer -and $server.Messages.Count -eq 0 -and $rule.Hits -eq 1) "$s"

    # ---- 4. implicit TLS
    $server.Reset()
    $r = Invoke-Client 'implicit' $server.SmtpsPort
    [void]$server.WaitForIdle(5000)
    $s = $server.SmtpSessions[0]
    Check 'implicit: message sent over SMTPS' ($r.result -eq 'ok' -and $server.Messages.Count -eq 1 -and $server.Messages[0].Tls) "$($r.result)"
    Check 'implicit: session ImplicitTls + Tls + auth' ($s.ImplicitTls -and $s.Tls -and $s.TlsProtocol -and $s.AuthUser -eq 'alice') "$s"
    Check 'implicit: no STARTTLS advertised' (-not ($s.Commands -contains 'STARTTLS')) ''

    # ---- 5. protocol details (raw chat)
    $server.Reset()
    $server.ReplyThenClose('CONNECT', $null, '421 4.3.2 Too busy', 1) | Out-Null
    $r = Invoke-Client 'chat' $server.SmtpPort @('EHLO x')
    Check 'connect rule: 421 then close' ((Get-Codes $r) -join ' ' -eq '421 <closed>') ((Get-Codes $r) -join ' ')

    $r = Invoke-Client 'chat' $server.SmtpPort @('MAIL FROM:<a@example.com>', 'EHLO x', 'RCPT TO:<b@example.com>', 'MAIL FROM:<a@example.com>', 'DATA', 'RCPT TO:<b@example.com>', 'DATA', '.', 'QUIT')
    Check 'sequence: 503 503 ... 554 no valid recipients, 250 for an empty message' ((Get-Codes $r) -join ' ' -eq '220 503 250 503 250 554 250 354 250 221') ((Get-Codes $r) -join ' ')
    Check 'sequence: empty message has empty Data' ($server.Messages[-1].Data.Length -eq 0) ''

    $long = 'NOOP ' + ('x' * 5000)
    $r = Invoke-Client 'chat' $server.SmtpPort @($long, 'NOOP', 'FOO', 'VRFY bob', 'RSET', 'QUIT')
    Check 'line too long -> 500, then session goes on' ((Get-Codes $r) -join ' ' -eq '220 500 250 500 252 250 221') ((Get-Codes $r) -join ' ')

    $r = Invoke-Client 'chat' $server.SmtpPort @('EHLO x', "MAIL FROM:<jos`u{e9}@example.com>", "MAIL FROM:<jos`u{e9}@example.com> SMTPUTF8", "RCPT TO:<m`u{fc}ller@example.com>", 'RSET', 'MAIL FROM:<a@example.com> SIZE=999999999999', 'MAIL FROM:<a@example.com> BODY=8BITMIME RET=HDRS ENVID=e1 XFOO=1', 'MAIL FROM:<> BODY=8BITMIME RET=HDRS ENVID=e1', 'RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.com', 'QUIT')
    Check 'mail: 553 non-ASCII, SMTPUTF8 ok, 552 SIZE, 555 unknown param' ((Get-Codes $r) -join ' ' -eq '220 250 553 250 250 250 552 555 250 250 221') ((Get-Codes $r) -join ' ')
    $tx = $server.SmtpSessions[-1].Transactions
    Check 'mail: parameters and null sender recorded' ($tx.Count -eq 2 -and $tx[0].Recipients[0].Address -eq "m`u{fc}ller@example.com" -and $tx[1].MailFrom -eq '' -and $tx[1].MailParameters['ret'] -eq 'HDRS' -and $tx[1].Recipients[0].Parameters['NOTIFY'] -eq 'SUCCESS,FAILURE' -and $tx[0].MailParameters['SMTPUTF8'] -eq '') "$($tx.Count)"

    $b64 = { param($s) [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($s)) }
    $r = Invoke-Client 'chat' $server.SmtpPort @('EHLO x', ('AUTH PLAIN ' + (& $b64 "`0alice`0wrong")), 'AUTH CRAM-MD5', 'AUTH LOGIN', (& $b64 'alice'), (& $b64 'Secr3t!Pa55'), 'AUTH PLAIN', 'QUIT')
    Check 'auth: 535 bad password, 504 unknown, LOGIN 334/334/235, 503 again' ((Get-Codes $r) -join ' ' -eq '220 250 535 504 334 334 235 503 221') ((Get-Codes $r) -join ' ')
    $s = $server.SmtpSessions[-1]
    Check 'auth: continuation lines recorded, attempts counted' ($s.AuthUser -eq 'alice' -and $s.AuthMechanism -eq 'LOGIN' -and $s.AuthAttempts -eq 4 -and ($s.Commands -contains (& $b64 'alice'))) "$($s.AuthAttempts)"

    $good = & $b64 "user=alice`u{1}auth=Bearer ya29.TestToken-abc123`u{1}`u{1}"
    $bad = & $b64 "user=alice`u{1}auth=Bearer nope`u{1}`u{1}"
    $r = Invoke-Client 'chat' $server.SmtpPort @('EHLO x', "AUTH XOAUTH2 $bad", '', 'AUTH XOAUTH2', '*', "AUTH XOAUTH2 $good", 'QUIT')
    $challenge = $r.replies[2][0]
    $json = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($challenge.Substring(4)))
    Check 'xoauth2: bad token 334 json then 535, * cancels 501, good token 235' ((Get-Codes $r) -join ' ' -eq '220 250 334 535 334 501 235 221' -and $json -like '*"status":"401"*') ((Get-Codes $r) -join ' ')

    $server.Smtp.AuthRequiresTls = $true
    $server.Smtp.StartTlsFails = $true
    $server.Smtp.EnhancedStatusCodes = $false
    $server.Smtp.MaxSize = 0
    $r = Invoke-Client 'chat' $server.SmtpPort @('EHLO x', ('AUTH PLAIN ' + (& $b64 "`0alice`0Secr3t!Pa55")), 'STARTTLS', 'MAIL FROM:<a@example.com>', 'QUIT')
    $ehlo = $r.replies[1]
    Check 'options: 538 AUTH before TLS, 454 STARTTLS fails, plain codes' ((Get-Codes $r) -join ' ' -eq '220 250 538 454 250 221' -and $r.replies[4][0] -eq '250 Sender OK') (($r.replies | ForEach-Object { $_[-1] }) -join ' | ')
    Check 'options: EHLO lists AUTH and STARTTLS, no SIZE/ENHANCEDSTATUSCODES' (($ehlo -contains '250-STARTTLS') -and ($ehlo -contains '250 AUTH PLAIN LOGIN XOAUTH2') -and -not ($ehlo -match 'SIZE|ENHANCED')) ($ehlo -join ' | ')
    $server.Reset()
    Check 'reset: default options restored' ($server.Smtp.EnhancedStatusCodes -and $server.Smtp.MaxSize -eq 52428800 -and -not $server.Smtp.AuthRequiresTls -and $server.SmtpSessions.Count -eq 0 -and $server.Users['alice'] -eq 'Secr3t!Pa55') ''

    $server.ReplyTo('DOT', 'Subject: retry', '451 4.3.0 Try again later', -1) | Out-Null
    $server.Delay('NOOP', 700, 1) | Out-Null
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $r = Invoke-Client 'chat' $server.SmtpPort @('EHLO x', 'NOOP', 'MAIL FROM:<a@example.com>', 'RCPT TO:<b@example.com>', 'DATA', "Subject: retry`r`n`r`nbody`r`n.", 'QUIT')
    $sw.Stop()
    $t = $server.SmtpSessions[-1].Transactions[0]
    Check 'dot rule: 451 -> not completed, not in Messages, Data kept' ((Get-Codes $r) -join ' ' -eq '220 250 250 250 250 354 451 221' -and -not $t.Completed -and $t.FinalReply -eq '451 4.3.0 Try again later' -and $server.Messages.Count -eq 0 -and $t.DataText -eq "Subject: retry`r`n`r`nbody") ((Get-Codes $r) -join ' ')
    Check 'delay rule: NOOP answered after the delay' ($sw.ElapsedMilliseconds -ge 700) "$($sw.ElapsedMilliseconds) ms"

    $r = Invoke-Client 'chat' $server.SmtpPort @('HELO old.test', 'MAIL FROM:<a@example.com>', 'QUIT')
    Check 'helo: simple 250, transaction allowed' ((Get-Codes $r) -join ' ' -eq '220 250 250 221' -and $r.replies[1].Count -eq 1 -and $server.SmtpSessions[-1].EhloName -eq 'old.test') (($r.replies | ForEach-Object { $_ -join '/' }) -join ' | ')

    $r = Invoke-Client 'inject' $server.SmtpPort
    [void]$server.WaitForIdle(5000)
    $s = $server.SmtpSessions[-1]
    Check 'starttls: pipelined plaintext after STARTTLS discarded, EHLO again required' ((Get-Codes $r) -join ' ' -eq '220 250 220 250 221' -and $s.EhloName -eq 'after.test' -and -not ($s.Commands -match 'injected') -and -not ($r.replies[3] -contains '250-STARTTLS')) (($s.Commands) -join ' | ')

    $r = Invoke-Client 'chat' $server.SmtpsPort @('<nogreeting>', 'EHLO plaintext.test')
    [void]$server.WaitForIdle(5000)
    $s = $server.SmtpSessions[-1]
    Check 'tls failure: plaintext on the SMTPS port ends the session, TlsError recorded' ($s.ImplicitTls -and -not $s.Tls -and $s.TlsError -and $s.Ended) "$($s.TlsError)"

    $server.Smtp.MaxSize = 20
    $r = Invoke-Client 'chat' $server.SmtpPort @('EHLO x', 'MAIL FROM:<a@example.com> SIZE=10', 'RCPT TO:<b@example.com>', 'DATA', "Subject: big`r`n`r`n0123456789012345678901234567890`r`n.", 'QUIT')
    Check 'max size: data over MaxSize -> 552 after the dot' ((Get-Codes $r) -join ' ' -eq '220 250 250 250 354 552 221' -and ($r.replies[1] -contains '250-SIZE 20') -and -not $server.SmtpSessions[-1].Transactions[0].Completed) ((Get-Codes $r) -join ' ')

    $server.Smtp.IdleTimeoutSeconds = 1
    $r = Invoke-Client 'chat' $server.SmtpPort @('EHLO x', '<wait>', '<wait>')
    [void]$server.WaitForIdle(5000)
    $s = $server.SmtpSessions[-1]
    Check 'idle timeout: 421 then close' ((Get-Codes $r) -join ' ' -eq '220 250 421 <closed>' -and $s.ClosedByServer -and $s.Error -eq 'Idle timeout') ((Get-Codes $r) -join ' ')
    $server.Reset()

    $server.CloseOn('RCPT', 'close@', 1) | Out-Null
    $r = Invoke-Client 'chat' $server.SmtpPort @('EHLO x', 'MAIL FROM:<a@example.com>', 'RCPT TO:<close@example.com>')
    [void]$server.WaitForIdle(5000)
    Check 'close rule: connection closed instead of a reply' ((Get-Codes $r) -join ' ' -eq '220 250 250 <closed>' -and $server.SmtpSessions[-1].ClosedByServer) ((Get-Codes $r) -join ' ')
} catch {
    Write-UnexpectedError $_
} finally {
    $server.Dispose()
}

# ---- 5b. Trickle: the greeting arrives byte by byte, then the session goes on; Stop() ends a trickle promptly
$server = [MockMail.MockServer]::new()
$proc = $null
try {
    $server.Start()
    $server.Smtp.Greeting = 'x'                                    # '220 x' + CRLF: 7 bytes
    $rule = $server.Trickle('CONNECT', 200, 1)
    $r = Invoke-Client 'trickle' $server.SmtpPort @{ after = 'QUIT' }
    Check 'trickle: SMTP greeting text' ($r.text -eq "220 x`r`n") ($r | ConvertTo-Json -Compress)
    Test-Trickled 'trickle: SMTP greeting' $r 200
    Check 'trickle: SMTP goes on normally (QUIT gets 221)' ($r.after -like '221 *') "$($r.after)"
    Check 'trickle: SMTP rule hit once' ($rule.Hits -eq 1) "$($rule.Hits)"
    $null = $server.Trickle('EHLO', 10, 1)
    $r = Invoke-Client 'trickle' $server.SmtpPort @{ cmd = 'EHLO client.test'; end = "XOAUTH2`r`n"; after = 'NOOP' }
    Check 'trickle: SMTP EHLO reply trickled, then NOOP normal' ($r.text -like '250-mock.test Hello client.test*' -and $r.chunks -ge $r.len / 2 -and $r.total -ge ($r.len - 1) * 0.009 -and $r.after -like '250 *') ($r | ConvertTo-Json -Compress)
    Check 'trickle: SMTP sessions without Error' ($server.WaitForIdle(5000) -and -not ($server.SmtpSessions | Where-Object { $_.Error })) (($server.SmtpSessions | ForEach-Object { "$($_.Error)" }) -join '; ')

    $server.Smtp.Greeting = 'mock.test ESMTP MockMail ready'
    $null = $server.Trickle('CONNECT', 1000, 1)
    $proc = Start-Client 'trickle' $server.SmtpPort @{ stop = $true }
    Test-StopDuringTrickle $proc
    Check 'trickle: SMTP session ended by Stop()' ($server.ActiveSessionCount -eq 0 -and $server.SmtpSessions[-1].Ended -and -not $server.SmtpSessions[-1].Error) "err=$($server.SmtpSessions[-1].Error)"
} catch {
    Write-UnexpectedError $_
} finally {
    $server.Dispose()
    if ($proc -and -not $proc.HasExited) { $proc.Kill() }
}

# ---- 6. NeverReply / CONNECT NeverReply / Delay: clients time out, Stop() returns promptly and closes them
$server = [MockMail.MockServer]::new()
$procs = @()
try {
    $server.Start()
    $server.NeverReply('CONNECT', 1) | Out-Null        # first connection: no greeting at all
    $server.NeverReply('EHLO', -1) | Out-Null
    $server.Delay('HELO', 60000, -1) | Out-Null
    foreach ($cmd in @('', 'EHLO never.test', 'HELO delayed.test')) {
        $procs += Start-Client 'never' $server.SmtpPort $cmd
        $first = $procs[-1].StandardOutput.ReadLine() | ConvertFrom-Json   # sequential: keeps connection order
        $label = if ($cmd) { $cmd.Split(' ')[0] } else { 'greeting' }
        Check "hang: client timed out waiting for the $label reply" ($first.result -eq 'timeout') "$($first.result)"
    }
    Check 'hang: three sessions still open' ($server.ActiveSessionCount -eq 3) "$($server.ActiveSessionCount)"
    Test-StopClosesClients $procs
    $sessions = $server.SmtpSessions
    Check 'hang: no handler left, sessions ClosedByServer' ($server.ActiveSessionCount -eq 0 -and $sessions.Count -eq 3 -and -not ($sessions | Where-Object { -not $_.Ended -or -not $_.ClosedByServer })) (($sessions | ForEach-Object { "$($_.Id) ended=$($_.Ended) closed=$($_.ClosedByServer) err=$($_.Error)" }) -join "; ")
    Check 'stop: not running' (-not $server.IsRunning) ''

    # restart (e.g. Pester BeforeAll/AfterAll per file)
    $server.Reset()
    $server.Start()
    $r = Invoke-Client 'chat' $server.SmtpPort @('NOOP', 'QUIT')
    Check 'restart: serves again after Stop()/Start()' ((Get-Codes $r) -join ' ' -eq '220 250 221') ((Get-Codes $r) -join ' ')
} catch {
    Write-UnexpectedError $_
} finally {
    $server.Dispose()
    foreach ($p in $procs) { if (-not $p.HasExited) { $p.Kill() } }
    Remove-Item -LiteralPath $py -ErrorAction SilentlyContinue
}

Complete-SelfCheck
