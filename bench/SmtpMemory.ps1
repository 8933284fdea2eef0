<#
.SYNOPSIS
    Memory benchmark for Send-SmtpMessage: (1) a pipeline of 5,000 messages against one of 1,000
    (the ratio shows whether memory grows with the message count: it should stay near 1), and
    (2) a 100 MB attachment, against the peer, the built-in Send-MailMessage, in one run.

.DESCRIPTION
    Each case runs in a fresh pwsh child process, after a warm-up send, and reports how much its
    peak working set grew.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MockServerPath,
    [int] $AttachmentMB = 100
)

$ErrorActionPreference = 'Stop'
$ModulePath = (Resolve-Path $ModulePath).Path
Add-Type -Path (Resolve-Path $MockServerPath).Path
$server = [MockMail.MockServer]::new()
$server.DeliverToMailboxes = $false
$server.Smtp.MaxSize = 0
$server.Start()
$work = Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-smtpbench-$PID"
$null = New-Item -ItemType Directory -Path $work -Force
try {
    $attachment = Join-Path $work 'big.bin'
    $bytes = [byte[]]::new(1MB); [Random]::new(1).NextBytes($bytes)
    $file = [IO.File]::Create($attachment); 1..$AttachmentMB | ForEach-Object { $file.Write($bytes, 0, $bytes.Length) }; $file.Dispose()

    $child = @'
param($ModulePath, $Port, $Case, $Count, $Attachment)
Import-Module $ModulePath
$warm = @{ SmtpServer = '127.0.0.1'; Port = $Port; TlsMode = 'None'; From = 'bench@example.com'; To = 'warm@example.com' }
Send-SmtpMessage @warm -Subject warm | Out-Null
Send-MailMessage -SmtpServer 127.0.0.1 -Port $Port -From bench@example.com -To warm@example.com -Subject warm -WarningAction SilentlyContinue
$retainedBefore = [GC]::GetTotalMemory($true)
$process = [Diagnostics.Process]::GetCurrentProcess(); $process.Refresh()
$before = $process.PeakWorkingSet64
$watch = [Diagnostics.Stopwatch]::StartNew()
switch ($Case) {
    'Pipeline' { 1..$Count | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "bulk $_"; Body = "message $_" } } | Send-SmtpMessage -SmtpServer 127.0.0.1 -Port $Port -TlsMode None -From bench@example.com | Out-Null }
    'Attachment' { Send-SmtpMessage @warm -Subject big -Attachments $Attachment -TimeoutSec 300 | Out-Null }
    'PeerAttachment' { Send-MailMessage -SmtpServer 127.0.0.1 -Port $Port -From bench@example.com -To warm@example.com -Subject big -Attachments $Attachment -WarningAction SilentlyContinue }
}
$watch.Stop(); $process.Refresh()
$peak = $process.PeakWorkingSet64 - $before
[GC]::Collect(); [GC]::WaitForPendingFinalizers()
[pscustomobject]@{ Growth = $peak; Retained = [GC]::GetTotalMemory($true) - $retainedBefore; Seconds = $watch.Elapsed.TotalSeconds } | ConvertTo-Json -Compress
'@
    $script = Join-Path $work 'child.ps1'; Set-Content $script $child
    function Measure-Case([string] $Case, [int] $Count = 0) {
        $server.Reset(); $server.DeliverToMailboxes = $false; $server.Smtp.MaxSize = 0
        (& (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $script $ModulePath $server.SmtpPort $Case $Count $attachment | Select-Object -Last 1) | ConvertFrom-Json
    }

    $small = Measure-Case Pipeline 1000
    $large = Measure-Case Pipeline 5000
    $ours = Measure-Case Attachment
    $peer = Measure-Case PeerAttachment

    $result = [pscustomobject]@{
        Benchmark                 = "SMTP memory: 1,000 vs 5,000 piped messages; one $AttachmentMB MB attachment vs Send-MailMessage"
        Pipeline1000GrowthMB      = [math]::Round($small.Growth / 1MB, 1)
        Pipeline5000GrowthMB      = [math]::Round($large.Growth / 1MB, 1)
        GrowthRatio5000To1000     = [math]::Round(($large.Growth + 1MB) / ($small.Growth + 1MB), 2)
        Retained1000KB            = [math]::Round($small.Retained / 1KB)
        Retained5000KB            = [math]::Round($large.Retained / 1KB)
        AttachmentGrowthMB        = [math]::Round($ours.Growth / 1MB, 1)
        PeerAttachmentGrowthMB    = [math]::Round($peer.Growth / 1MB, 1)
        AttachmentMemoryRatio     = [math]::Round(($ours.Growth + 1MB) / ($peer.Growth + 1MB), 3)
        AttachmentSeconds         = [math]::Round($ours.Seconds, 2)
        PeerAttachmentSeconds     = [math]::Round($peer.Seconds, 2)
    }
    $result | Format-List | Out-Host
}
finally {
    $server.Dispose()
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
