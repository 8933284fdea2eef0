<#
.SYNOPSIS
    Speed benchmark: N piped rows into Send-SmtpMessage over one STARTTLS connection, against
    Python smtplib (one connection, STARTTLS, the same N messages) and against raw pipelined
    clients that show what the protocol and the mock server allow, all in one run.

.DESCRIPTION
    The server is the bundled mock (tests/MockMailServer) with delivery to mailboxes turned off.
    Each contender runs -Runs times and its best time is kept (the machine is shared and noisy).
    Raw clients (C#, bench/RawClients.cs):
      - "raw, legal pipelining": per message one write of the previous message's data and this
        message's MAIL, RCPT and DATA, then a wait for the 354 (the fewest waits RFC 2920 allows
        without CHUNKING; Send-SmtpMessage uses BDAT, as the mock offers CHUNKING).
      - "raw, all at once": every command and every message written without waiting while a
        second thread reads the replies: the mock's own ceiling.
    Send-SmtpMessage runs twice: against the sink as it is (PIPELINING and CHUNKING: BDAT, no
    wait per message) and with CHUNKING turned off (DATA: one wait per message, for the 354).
    Python smtplib runs twice over: composing each message with EmailMessage and send_message (what
    a short script would do), and sendmail with prebuilt text (smtplib's own cost only). The ratio
    is the sendmail time divided by the contender's (above 1: faster than smtplib).

        dotnet pwsh ./bench/SmtpThroughput.ps1 -ModulePath out/MailProtocols/<v>/MailProtocols.psd1 -MockServerPath out/MockMailServer/MockMailServer.dll
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MockServerPath,
    [int] $Count = 500,
    [int] $Runs = 5
)

$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Import-Module (Resolve-Path $ModulePath).Path
Add-Type -Path (Resolve-Path $MockServerPath).Path

Add-Type -Path (Join-Path $PSScriptRoot 'RawClients.cs')
# Message n as the raw clients send it ({0}: n, {1}: the count).
$rawMessage = "From: <bench@example.com>`r`nTo: <user{0}@example.com>`r`nSubject: Bench {0}`r`nDate: Mon, 15 Jan 2024 09:00:00 +0000`r`n" +
    "Message-ID: <{0}.bench@example.com>`r`nMIME-Version: 1.0`r`nContent-Type: text/plain; charset=utf-8`r`n`r`nMessage {0}`r`n"

$python = @('/usr/bin/python3', (Get-Command python3 -ErrorAction SilentlyContinue).Source) | Where-Object { $_ -and (Test-Path $_) } | Select-Object -First 1

$server = [MockMail.MockServer]::new()
$server.Start()
$work = Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-bench-smtp-$PID"
$null = New-Item -ItemType Directory -Path $work -Force
try {
    # The sink offers PIPELINING and CHUNKING, as Postfix and Exchange do.
    function Reset-Server { $server.Reset(); $server.DeliverToMailboxes = $false; $server.Smtp.Chunking = $true }
    function Assert-Delivered([string] $Tool) {
        $null = $server.WaitForMessages($Count, 10000)
        if ($server.Messages.Count -ne $Count) { throw "$Tool delivered $($server.Messages.Count) of $Count messages" }
    }

    $rows = 1..$Count | ForEach-Object { [pscustomobject]@{ To = "user$_@example.com"; Subject = "Bench $_"; Body = "Message $_ of $Count" } }
    $send = { param($r) $r | Send-SmtpMessage -SmtpServer $server.Host -Port $server.SmtpPort -TlsMode StartTls -SkipCertificateCheck -From 'bench@example.com' | Out-Null }

    # Warm up (assembly loading and JIT are not what is measured): one whole untimed run, as in
    # RealServers.ps1; after five rows the JIT was still compiling for most of the timed runs.
    Reset-Server
    & $send $rows
    Assert-Delivered 'the warm-up run'
    $null = [RawClients]::Smtp($server.Host, $server.SmtpPort, $null, $null, 5, $rawMessage, 'DataAllAtOnce')
    $null = [RawClients]::Smtp($server.Host, $server.SmtpPort, $null, $null, 5, $rawMessage, 'LegalData')

    $best = [ordered]@{}
    foreach ($run in 1..$Runs) {
        Reset-Server
        $t = (Measure-Command { & $send $rows }).TotalSeconds
        Assert-Delivered 'Send-SmtpMessage'
        $best['Send-SmtpMessage (piped, STARTTLS)'] = [math]::Min($t, ($best['Send-SmtpMessage (piped, STARTTLS)'] ?? [double]::MaxValue))

        Reset-Server
        $server.Smtp.Chunking = $false
        $t = (Measure-Command { & $send $rows }).TotalSeconds
        Assert-Delivered 'Send-SmtpMessage without CHUNKING'
        $best['Send-SmtpMessage, server without CHUNKING'] = [math]::Min($t, ($best['Send-SmtpMessage, server without CHUNKING'] ?? [double]::MaxValue))

        Reset-Server
        $t = [RawClients]::Smtp($server.Host, $server.SmtpPort, $null, $null, $Count, $rawMessage, 'LegalData')
        Assert-Delivered 'raw legal'
        $best['raw C#, legal pipelining (waits for 354)'] = [math]::Min($t, ($best['raw C#, legal pipelining (waits for 354)'] ?? [double]::MaxValue))

        Reset-Server
        $t = [RawClients]::Smtp($server.Host, $server.SmtpPort, $null, $null, $Count, $rawMessage, 'DataAllAtOnce')
        Assert-Delivered 'raw all at once'
        $best['raw C#, all at once (server ceiling)'] = [math]::Min($t, ($best['raw C#, all at once (server ceiling)'] ?? [double]::MaxValue))
    }

    $peer = $null
    if ($python) {
        Reset-Server
        $times = & $python (Join-Path $PSScriptRoot 'peers.py') smtp $server.Host $server.SmtpPort '-' '-' $Count $Runs 'composed,text' | ConvertFrom-Json
        if ($LASTEXITCODE -ne 0) { throw "smtplib run failed ($LASTEXITCODE)" }
        if ($server.Messages.Count -ne 2 * $Count * $Runs) { throw "smtplib delivered $($server.Messages.Count) of $(2 * $Count * $Runs) messages" }
        $best['Python smtplib, send_message(EmailMessage)'] = $times.composed
        $best['Python smtplib, sendmail(prebuilt text)'] = $peer = $times.text
    }
    else {
        Write-Host 'python3 not found: the smtplib contender is skipped, ratios are not computed.'
    }

    Write-Host "Machine: $(nproc) cores, kernel $(uname -r); date $([DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm')) UTC"
    Write-Host "SMTP: $Count messages, one connection each, STARTTLS, mock server (no mailbox delivery), best of $Runs"
    $table = foreach ($k in $best.Keys) {
        [pscustomobject]@{
            Tool       = $k
            Seconds    = [math]::Round($best[$k], 3)
            MsPerMsg   = [math]::Round($best[$k] * 1000 / $Count, 3)
            VsSmtplib  = if ($peer) { [math]::Round($peer / $best[$k], 2) } else { 'n/a' }
        }
    }
    $table | Format-Table -AutoSize | Out-String -Width 200 | Out-Host
    Write-Host 'VsSmtplib: smtplib sendmail time divided by the row''s time (above 1: faster).'
    $ceiling = $best['raw C#, all at once (server ceiling)']
    Write-Host ("Server ceiling: {0:N3} ms/message ({1:N0} messages/s); Send-SmtpMessage runs at {2:P0} of it." -f ($ceiling * 1000 / $Count), ($Count / $ceiling), ($ceiling / $best['Send-SmtpMessage (piped, STARTTLS)']))
}
finally {
    $server.Dispose()
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
