<#
.SYNOPSIS
    Memory benchmark: saving one 100 MB attachment of a saved .eml file with Save-MailAttachment,
    against the peer, what Get-Pop3Message's help showed before (MimeKit: load the message, then
    DecodeTo a file), in one run.

.DESCRIPTION
    Each contender runs in a fresh pwsh child process on the same .eml file and reports how much
    its peak working set grew while it saved the attachment; the saved bytes are checked against
    what was attached. Streamed, ours must grow far less than the attachment's size. Run it with
    build.ps1 -Task Bench, or directly after a build:

        dotnet pwsh ./bench/AttachmentMemory.ps1 -ModulePath out/MailProtocols/<v>/MailProtocols.psd1
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    # Passed by build.ps1 to every benchmark; this one needs no server.
    [string] $MockServerPath,
    [int] $SizeMB = 100
)

$ErrorActionPreference = 'Stop'
$ModulePath = (Resolve-Path $ModulePath).Path
$work = Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-bench-attachment-$PID"
$null = New-Item -ItemType Directory -Path $work -Force
try {
    # The message, written a chunk at a time: the attachment is pseudo-random bytes, base64 in
    # 76-character lines; its SHA-256 is computed as it is written.
    function New-Eml {
        param([string] $Path, [long] $Size)
        $file = [IO.StreamWriter]::new($Path, $false, [Text.Encoding]::ASCII)
        $sha = [Security.Cryptography.IncrementalHash]::CreateHash('SHA256')
        try {
            $file.Write("From: vendor@example.com`r`nTo: files@example.com`r`nSubject: Large file`r`nMessage-ID: <large@example.com>`r`nMIME-Version: 1.0`r`n")
            $file.Write("Content-Type: multipart/mixed; boundary=`"b`"`r`n`r`n--b`r`nContent-Type: text/plain`r`n`r`nThe file.`r`n")
            $file.Write("--b`r`nContent-Type: application/octet-stream`r`nContent-Disposition: attachment; filename=`"large.bin`"`r`nContent-Transfer-Encoding: base64`r`n`r`n")
            $random = [Random]::new(42)
            $chunk = [byte[]]::new(57 * 1024)
            for ($written = 0L; $written -lt $Size; $written += $chunk.Length) {
                $count = [int][Math]::Min($chunk.Length, $Size - $written)
                $random.NextBytes($chunk)
                $sha.AppendData($chunk, 0, $count)
                $file.Write([Convert]::ToBase64String($chunk, 0, $count, 'InsertLineBreaks'))
                $file.Write("`r`n")
            }
            $file.Write("--b--`r`n")
        }
        finally { $file.Dispose() }
        [Convert]::ToHexString($sha.GetHashAndReset())
    }
    $small = Join-Path $work 'small.eml'
    $null = New-Eml $small 1000
    $large = Join-Path $work 'large.eml'
    $expected = New-Eml $large ($SizeMB * 1MB)
    $mimeKit = (Get-ChildItem (Split-Path $ModulePath) -Recurse -Filter MimeKit.dll | Where-Object FullName -NotMatch 'desktop' | Select-Object -First 1).FullName

    $ours = @'
param($ModulePath, $Small, $Large, $Folder)
Import-Module $ModulePath
$warm = New-Item -ItemType Directory -Path (Join-Path $Folder 'warm')
$null = Save-MailAttachment -LiteralPath $Small -Destination $warm
[GC]::Collect()
$process = [Diagnostics.Process]::GetCurrentProcess(); $process.Refresh()
$before = $process.PeakWorkingSet64
$watch = [Diagnostics.Stopwatch]::StartNew()
$file = Save-MailAttachment -LiteralPath $Large -Destination $Folder
$watch.Stop(); $process.Refresh()
[pscustomobject]@{ Growth = $process.PeakWorkingSet64 - $before; Seconds = $watch.Elapsed.TotalSeconds; Path = $file.FullName } | ConvertTo-Json -Compress
'@

    $peer = @'
param($MimeKit, $Small, $Large, $Folder)
Add-Type -Path $MimeKit
function Save-Pdfs([string] $Eml, [string] $To) {
    $message = [MimeKit.MimeMessage]::Load($Eml)
    foreach ($part in $message.Attachments) {
        $file = [System.IO.File]::Create((Join-Path $To $part.FileName))
        try { $part.Content.DecodeTo($file) } finally { $file.Dispose() }
    }
}
$warm = New-Item -ItemType Directory -Path (Join-Path $Folder 'warm')
Save-Pdfs $Small $warm
[GC]::Collect()
$process = [Diagnostics.Process]::GetCurrentProcess(); $process.Refresh()
$before = $process.PeakWorkingSet64
$watch = [Diagnostics.Stopwatch]::StartNew()
Save-Pdfs $Large $Folder
$watch.Stop(); $process.Refresh()
[pscustomobject]@{ Growth = $process.PeakWorkingSet64 - $before; Seconds = $watch.Elapsed.TotalSeconds; Path = (Join-Path $Folder 'large.bin') } | ConvertTo-Json -Compress
'@

    $pwsh = Join-Path $PSHOME 'pwsh'
    $oursFolder = New-Item -ItemType Directory -Path (Join-Path $work 'ours') -Force
    $peerFolder = New-Item -ItemType Directory -Path (Join-Path $work 'peer') -Force
    $oursScript = Join-Path $work 'ours.ps1'; Set-Content $oursScript $ours
    $peerScript = Join-Path $work 'peer.ps1'; Set-Content $peerScript $peer
    $a = (& $pwsh -NoProfile -NonInteractive -File $oursScript $ModulePath $small $large $oursFolder | Select-Object -Last 1) | ConvertFrom-Json
    $b = (& $pwsh -NoProfile -NonInteractive -File $peerScript $mimeKit $small $large $peerFolder | Select-Object -Last 1) | ConvertFrom-Json
    foreach ($run in $a, $b) {
        $hash = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([IO.File]::ReadAllBytes($run.Path)))
        if ($hash -ne $expected) { throw "The file saved at $($run.Path) does not hold the attached bytes." }
    }

    [pscustomobject]@{
        Benchmark        = "Save one $SizeMB MB attachment of an .eml file"
        OursGrowthMB     = [math]::Round($a.Growth / 1MB, 1)
        PeerGrowthMB     = [math]::Round($b.Growth / 1MB, 1)
        OursSeconds      = [math]::Round($a.Seconds, 2)
        PeerSeconds      = [math]::Round($b.Seconds, 2)
        Ratio            = [math]::Round($a.Growth / [math]::Max(1, $b.Growth), 3)
        StreamedFarBelow = $a.Growth -lt ($SizeMB * 1MB / 10)
    } | Format-List
}
finally {
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
}
