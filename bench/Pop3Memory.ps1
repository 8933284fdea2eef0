<#
.SYNOPSIS
    Memory benchmark: downloading one large message to disk with Get-Pop3Message -Destination,
    against the peer, MailKit's own Pop3Client (GetStream, then copy to a file), in one run.

.DESCRIPTION
    Each contender runs in a fresh pwsh child process against the same mock server message and
    reports how much its peak working set grew during the download. The figure that matters is
    the ratio: ours / peer. Run it with build.ps1 -Task Bench, or directly after a build:

        dotnet pwsh ./bench/Pop3Memory.ps1 -ModulePath out/MailProtocols/<v>/MailProtocols.psd1 -MockServerPath out/MockMailServer/MockMailServer.dll
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MockServerPath,
    [int] $SizeMB = 100
)

$ErrorActionPreference = 'Stop'
$ModulePath = (Resolve-Path $ModulePath).Path
Add-Type -Path (Resolve-Path $MockServerPath).Path
$server = [MockMail.MockServer]::new()
$server.Start()
$work = Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-bench-$PID"
$null = New-Item -ItemType Directory -Path $work -Force
try {
    # A small message first, for each contender to warm up with (loading assemblies, JIT and TLS
    # cost memory too, and are not what is measured), then the large one.
    $null = $server.AddTestMessages('alice', 1)
    $null = $server.AddLargeMessage('alice', $SizeMB * 1MB)
    $password = $server.Users['alice']
    # MailKit for the peer: the copy the module ships for PowerShell 7 (core/dependencies).
    $moduleDir = Split-Path (Get-ChildItem (Split-Path $ModulePath) -Recurse -Filter MailKit.dll | Where-Object FullName -NotMatch 'desktop' | Select-Object -First 1).FullName

    $ours = @'
param($ModulePath, $Port, $Password, $Folder)
Import-Module $ModulePath
$cred = [pscredential]::new('alice', (ConvertTo-SecureString $Password -AsPlainText -Force))
$warm = New-Item -ItemType Directory -Path (Join-Path $Folder 'warm')
$null = Get-Pop3Message -Pop3Server 127.0.0.1 -Port $Port -Credential $cred -SkipCertificateCheck -Destination $warm -Oldest 1
[GC]::Collect()
$process = [Diagnostics.Process]::GetCurrentProcess(); $process.Refresh()
$before = $process.PeakWorkingSet64
$watch = [Diagnostics.Stopwatch]::StartNew()
$saved = Get-Pop3Message -Pop3Server 127.0.0.1 -Port $Port -Credential $cred -SkipCertificateCheck -Destination $Folder -Newest 1 -TimeoutSec 120
$watch.Stop(); $process.Refresh()
[pscustomobject]@{ Growth = $process.PeakWorkingSet64 - $before; Seconds = $watch.Elapsed.TotalSeconds; Bytes = (Get-Item $saved.SavedPath).Length } | ConvertTo-Json -Compress
'@

    $peer = @'
param($ModuleDir, $Port, $Password, $Folder)
Add-Type -Path (Join-Path $ModuleDir 'MimeKit.dll')
Add-Type -Path (Join-Path $ModuleDir 'MailKit.dll')
$client = [MailKit.Net.Pop3.Pop3Client]::new()
$client.ServerCertificateValidationCallback = { $true }
$client.Connect('127.0.0.1', $Port, [MailKit.Security.SecureSocketOptions]::StartTls)
$client.Authenticate('alice', $Password)
$client.GetStream(0, $false, [Threading.CancellationToken]::None, $null).Dispose()
[GC]::Collect()
$process = [Diagnostics.Process]::GetCurrentProcess(); $process.Refresh()
$before = $process.PeakWorkingSet64
$watch = [Diagnostics.Stopwatch]::StartNew()
$stream = $client.GetStream(1, $false, [Threading.CancellationToken]::None, $null)
$path = Join-Path $Folder 'peer.eml'
$file = [IO.File]::Create($path); $stream.CopyTo($file); $file.Dispose(); $stream.Dispose()
$client.Disconnect($true)
$watch.Stop(); $process.Refresh()
[pscustomobject]@{ Growth = $process.PeakWorkingSet64 - $before; Seconds = $watch.Elapsed.TotalSeconds; Bytes = (Get-Item $path).Length } | ConvertTo-Json -Compress
'@

    $pwsh = Join-Path $PSHOME 'pwsh'
    $oursFolder = New-Item -ItemType Directory -Path (Join-Path $work 'ours') -Force
    $peerFolder = New-Item -ItemType Directory -Path (Join-Path $work 'peer') -Force
    $oursScript = Join-Path $work 'ours.ps1'; Set-Content $oursScript $ours
    $peerScript = Join-Path $work 'peer.ps1'; Set-Content $peerScript $peer
    $a = (& $pwsh -NoProfile -NonInteractive -File $oursScript $ModulePath $server.Pop3Port $password $oursFolder | Select-Object -Last 1) | ConvertFrom-Json
    $b = (& $pwsh -NoProfile -NonInteractive -File $peerScript $moduleDir $server.Pop3Port $password $peerFolder | Select-Object -Last 1) | ConvertFrom-Json

    $result = [pscustomobject]@{
        Benchmark           = "POP3 download of one $SizeMB MB message to disk"
        OursPeakGrowthMB    = [math]::Round($a.Growth / 1MB, 1)
        PeerPeakGrowthMB    = [math]::Round($b.Growth / 1MB, 1)
        MemoryRatio         = [math]::Round(($a.Growth + 1) / ($b.Growth + 1), 3)
        OursSeconds         = [math]::Round($a.Seconds, 2)
        PeerSeconds         = [math]::Round($b.Seconds, 2)
        SameSize            = $a.Bytes -eq $b.Bytes
    }
    $result | Format-List | Out-Host
}
finally {
    $server.Dispose()
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
