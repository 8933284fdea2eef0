<#
.SYNOPSIS
    Speed benchmark: sending N messages from a pipeline with Send-SmtpMessage (one connection,
    PIPELINING) against the peer users migrate from, the built-in Send-MailMessage called once
    per message, in one run against the same mock server, both in plain text.

.DESCRIPTION
    Reports both times and the ratio ours / peer (lower is better), and checks that the mock
    received every message of both contenders exactly once.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MockServerPath,
    [int] $Count = 200
)

$ErrorActionPreference = 'Stop'
Import-Module (Resolve-Path $ModulePath).Path
Add-Type -Path (Resolve-Path $MockServerPath).Path
$server = [MockMail.MockServer]::new()
$server.Start()
try {
    $rows = 1..$Count | ForEach-Object { [pscustomobject]@{ To = "user$_@example.com"; Subject = "Bulk $_"; Body = "Message $_ of $Count" } }

    # Warm up both (assembly loading and JIT are not what is measured).
    Send-SmtpMessage -SmtpServer $server.Host -Port $server.SmtpPort -TlsMode None -From 'bench@example.com' -To 'warm@example.com' | Out-Null
    Send-MailMessage -SmtpServer $server.Host -Port $server.SmtpPort -From 'bench@example.com' -To 'warm@example.com' -Subject warm -WarningAction SilentlyContinue
    $server.Reset()

    $ours = Measure-Command {
        $rows | Send-SmtpMessage -SmtpServer $server.Host -Port $server.SmtpPort -TlsMode None -From 'bench@example.com' | Out-Null
    }
    $oursDelivered = $server.Messages.Count
    $oursConnections = $server.SmtpConnectionCount
    $server.Reset()

    $peer = Measure-Command {
        foreach ($row in $rows) {
            Send-MailMessage -SmtpServer $server.Host -Port $server.SmtpPort -From 'bench@example.com' -To $row.To -Subject $row.Subject -Body $row.Body -WarningAction SilentlyContinue
        }
    }
    $peerDelivered = $server.Messages.Count
    $peerConnections = $server.SmtpConnectionCount

    $result = [pscustomobject]@{
        Benchmark       = "SMTP: $Count messages from a pipeline"
        OursSeconds     = [math]::Round($ours.TotalSeconds, 3)
        PeerSeconds     = [math]::Round($peer.TotalSeconds, 3)
        TimeRatio       = [math]::Round($ours.TotalSeconds / $peer.TotalSeconds, 3)
        OursConnections = $oursConnections
        PeerConnections = $peerConnections
        AllDelivered    = ($oursDelivered -eq $Count) -and ($peerDelivered -eq $Count)
    }
    $result | Format-List | Out-Host
}
finally {
    $server.Dispose()
}
