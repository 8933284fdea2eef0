<#
.SYNOPSIS
    Speed benchmark: Send-SmtpMessage and Get-Pop3Message against MailKit's own SmtpClient and
    Pop3Client in plain C# loops (bench/MailKitPeers), in one run against the same mock server.

.DESCRIPTION
    The module is built on MailKit, so MailKit's own client shows what the module's layers
    (PowerShell binding, objects, files) cost on top of it, and what pipelining beyond MailKit
    gains. The server is the bundled mock (tests/MockMailServer); every session uses STARTTLS
    (STLS) without certificate validation.
      - SMTP: -Count rows piped into Send-SmtpMessage, one connection, against SmtpClient.Send of
        the same messages (composed as MimeMessages) on one connection.
      - POP3: a mailbox of -Pop3Count messages: the headers listing against GetMessageHeaders(i)
        in a loop, -IncludeBody against GetMessage(i) in a loop, -Destination against GetStream(i)
        copied to one file each (no fsync). MailKit's batch calls (GetMessageHeaders(0, n) and
        GetMessages(0, n), which pipeline) are shown too.
    Each contender runs -Runs times and its best time is kept (the machine is shared and noisy).
    VsMailKit is the MailKit loop's time divided by ours (above 1: ours is faster).

        dotnet pwsh ./bench/VsMailKit.ps1 -ModulePath out/MailProtocols/<v>/MailProtocols.psd1 -MockServerPath out/MockMailServer/MockMailServer.dll
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MockServerPath,
    [int] $Count = 500,
    [int] $Pop3Count = 2000,
    [int] $Runs = 2
)

$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Import-Module (Resolve-Path $ModulePath).Path
Add-Type -Path (Resolve-Path $MockServerPath).Path
. (Join-Path $PSScriptRoot 'MailKitPeers/MailKitPeers.ps1')
$harness = Get-MailKitPeers

$server = [MockMail.MockServer]::new()
$server.Start()
$work = Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-bench-mailkit-$PID"
$null = New-Item -ItemType Directory -Path $work -Force
try {
    function Set-Best([string] $Name, [double] $Seconds) { $best[$Name] = [math]::Min($Seconds, ($best[$Name] ?? [double]::MaxValue)) }
    $best = [ordered]@{}

    # SMTP
    $server.Reset(); $server.DeliverToMailboxes = $false
    $rows = 1..$Count | ForEach-Object { [pscustomobject]@{ To = "user$_@example.com"; Subject = "Bench $_"; Body = "Message $_ of $Count" } }
    $send = { param($r) $r | Send-SmtpMessage -SmtpServer $server.Host -Port $server.SmtpPort -TlsMode StartTls -SkipCertificateCheck -From 'bench@example.com' | Out-Null }
    & $send $rows[0..4]
    foreach ($run in 1..$Runs) {
        $server.Reset(); $server.DeliverToMailboxes = $false
        Set-Best 'smtp ours' (Measure-Command { & $send $rows }).TotalSeconds
        $null = $server.WaitForMessages($Count, 10000)
        if ($server.Messages.Count -ne $Count) { throw "Send-SmtpMessage delivered $($server.Messages.Count) of $Count messages" }
    }
    $server.Reset(); $server.DeliverToMailboxes = $false
    $mkSmtp = Invoke-MailKitPeers $harness @('smtp', $server.Host, $server.SmtpPort, $Count, $Runs)
    $null = $server.WaitForMessages($Count * $Runs + 3, 10000)
    if ($server.Messages.Count -ne $Count * $Runs + 3) { throw "MailKit SmtpClient delivered $($server.Messages.Count) of $($Count * $Runs + 3) messages" }
    $best['smtp mailkit'] = $mkSmtp.send

    # POP3
    $server.Reset()
    $null = $server.AddTestMessages('alice', $Pop3Count)
    $password = $server.Users['alice']
    $cred = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force))
    $common = @{ Pop3Server = $server.Host; Port = $server.Pop3Port; Credential = $cred; TlsMode = 'StartTls'; SkipCertificateCheck = $true }
    $ours = [ordered]@{
        'pop3 headers ours' = { @(Get-Pop3Message @common) }
        'pop3 body ours'    = { @(Get-Pop3Message @common -IncludeBody) }
        'pop3 files ours'   = { param($folder) @(Get-Pop3Message @common -Destination $folder) }
    }
    $null = Get-Pop3Message @common -Oldest 5 -IncludeBody
    $null = $server.WaitForIdle(10000)
    $folderNumber = 0
    foreach ($run in 1..$Runs) {
        foreach ($k in $ours.Keys) {
            $folder = (New-Item -ItemType Directory -Path (Join-Path $work "ours$((++$folderNumber))")).FullName
            $result = $null
            $t = (Measure-Command { $result = & $ours[$k] $folder }).TotalSeconds
            $null = $server.WaitForIdle(10000)
            if ($result.Count -ne $Pop3Count) { throw "$k returned $($result.Count) of $Pop3Count messages" }
            if ($k -eq 'pop3 files ours' -and @(Get-ChildItem $folder -Filter *.eml).Count -ne $Pop3Count) { throw "$k saved fewer than $Pop3Count files" }
            # Kept until the end: deleting many files slows the next files created (see RealServers.ps1).
            Set-Best $k $t
        }
    }
    $mk = Invoke-MailKitPeers $harness @('pop3', $server.Host, $server.Pop3Port, 'alice', $password, $Pop3Count, $Runs, $work)
    if ($server.GetMailbox('alice').Count -ne $Pop3Count) { throw 'the mailbox changed during the run' }

    $lines = @(
        , @('SMTP: Send-SmtpMessage, piped rows', 'smtp ours', $Count, $mkSmtp.send, 'SmtpClient.Send loop')
        , @('SMTP: MailKit SmtpClient.Send loop', 'smtp mailkit', $Count, $mkSmtp.send, 'SmtpClient.Send loop')
        , @('POP3: Get-Pop3Message, headers listing', 'pop3 headers ours', $Pop3Count, $mk.getheader, 'GetMessageHeaders(i) loop')
        , @('POP3: MailKit GetMessageHeaders(i) loop', $null, $Pop3Count, $mk.getheader, 'GetMessageHeaders(i) loop', $mk.getheader)
        , @('POP3: MailKit GetMessageHeaders(0, n) batch', $null, $Pop3Count, $mk.getheader, 'GetMessageHeaders(i) loop', $mk.getheaders_batch)
        , @('POP3: Get-Pop3Message -IncludeBody', 'pop3 body ours', $Pop3Count, $mk.getmessage, 'GetMessage(i) loop')
        , @('POP3: MailKit GetMessage(i) loop', $null, $Pop3Count, $mk.getmessage, 'GetMessage(i) loop', $mk.getmessage)
        , @('POP3: MailKit GetMessages(0, n) batch', $null, $Pop3Count, $mk.getmessage, 'GetMessage(i) loop', $mk.getmessages_batch)
        , @('POP3: Get-Pop3Message -Destination', 'pop3 files ours', $Pop3Count, $mk.getstream_files, 'GetStream(i) to files')
        , @('POP3: MailKit GetStream(i) to files (no fsync)', $null, $Pop3Count, $mk.getstream_files, 'GetStream(i) to files', $mk.getstream_files)
    )
    Write-Host "Machine: $(nproc) cores, kernel $(uname -r); date $([DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm')) UTC"
    Write-Host "Mock server, STARTTLS/STLS; SMTP $Count messages, POP3 mailbox of $Pop3Count; best of $Runs"
    $table = foreach ($l in $lines) {
        $seconds = if ($l[1]) { $best[$l[1]] } else { $l[5] }
        [pscustomobject]@{
            Tool          = $l[0]
            Seconds       = [math]::Round($seconds, 3)
            MsPerMsg      = [math]::Round($seconds * 1000 / $l[2], 3)
            VsMailKit     = [math]::Round($l[3] / $seconds, 2)
            ExtraMsPerMsg = [math]::Round(($seconds - $l[3]) * 1000 / $l[2], 3)
            MailKitRow    = $l[4]
        }
    }
    $table | Format-Table -AutoSize | Out-String -Width 220 | Out-Host
    Write-Host 'VsMailKit: the time of the MailKit loop named in MailKitRow divided by the row''s time (above 1: faster); ExtraMsPerMsg: the row''s time minus that loop''s, per message.'
}
finally {
    $server.Dispose()
    # Under build.ps1 -Task Bench, set aside for deletion after the last benchmark (see RealServers.ps1).
    if ($env:MAILPROTOCOLS_BENCH_TRASH) { Move-Item $work $env:MAILPROTOCOLS_BENCH_TRASH } else { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
}
