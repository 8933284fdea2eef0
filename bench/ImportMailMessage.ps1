<#
.SYNOPSIS
    Speed benchmark: Import-MailMessage over a folder of saved messages, sorting and filtering by
    Subject and Date (headers only) against the same with every body, and every attachment name,
    asked for.

.DESCRIPTION
    Writes -Count .eml files named as Get-Pop3Message -Destination names them (one in -LargeEvery
    with a 300 KB attachment, the others small text messages), then, in this process, imports the
    folder and reports time and bytes allocated per file for:
      headers    Import-MailMessage | Where-Object Subject | Sort-Object Date
      names      the same, then AttachmentNames of each (the structure, read from each file)
      bodies     the same, then TextBody of each (each file parsed whole)
    Each is run twice and the second run reported (the first pays for loading and JIT). Not part of
    the test suite. Run it with build.ps1 -Task Bench, or directly after a build:

        dotnet pwsh ./bench/ImportMailMessage.ps1 -ModulePath out/MailProtocols/<v>/MailProtocols.psd1
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    # Taken for build.ps1 -Task Bench, which passes it to every benchmark; not used here.
    [string] $MockServerPath,
    [int] $Count = 10000,
    [int] $LargeEvery = 10
)

$ErrorActionPreference = 'Stop'
Import-Module (Resolve-Path $ModulePath).Path
$folder = Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-bench-import-$PID"
$null = New-Item -ItemType Directory -Path $folder -Force
try {
    $attachment = [Convert]::ToBase64String([byte[]]::new(300KB), 'InsertLineBreaks')
    $start = [DateTimeOffset]::new(2024, 1, 1, 0, 0, 0, [TimeSpan]::Zero)
    for ($i = 1; $i -le $Count; $i++) {
        $head = "From: Sender $i <sender$i@example.com>`r`nTo: alice@example.com`r`nSubject: Report $($i % 97) number $i`r`n" +
            "Date: $($start.AddMinutes($i * 7 % 10007).ToString('ddd, dd MMM yyyy HH:mm:ss +0000', [Globalization.CultureInfo]::InvariantCulture))`r`n" +
            "Message-ID: <$i.bench@example.com>`r`nMIME-Version: 1.0`r`n"
        $body = if ($i % $LargeEvery -eq 0) {
            "Content-Type: multipart/mixed; boundary=b`r`n`r`n--b`r`nContent-Type: text/plain; charset=utf-8`r`n`r`nReport $i attached.`r`n" +
            "--b`r`nContent-Type: application/pdf`r`nContent-Disposition: attachment; filename=report$i.pdf`r`nContent-Transfer-Encoding: base64`r`n`r`n$attachment`r`n--b--`r`n"
        }
        else {
            "Content-Type: text/plain; charset=utf-8`r`n`r`nThis is message $i.`r`nIt has a few lines of text.`r`nRegards`r`n"
        }
        [IO.File]::WriteAllText((Join-Path $folder "mock-$i.eml"), $head + $body)
    }
    $bytes = (Get-ChildItem $folder | Measure-Object Length -Sum).Sum
    Write-Host ("{0:N0} files, {1:N0} MB, one in {2} with a 300 KB attachment" -f $Count, ($bytes / 1MB), $LargeEvery)

    $list = { param($all) $all | Where-Object Subject -like 'Report 1 *' | Sort-Object Date }
    $cases = [ordered]@{
        headers = { $all = @(Import-MailMessage $folder); $null = & $list $all }
        names   = { $all = @(Import-MailMessage $folder); $null = & $list $all; $null = $all.AttachmentNames }
        bodies  = { $all = @(Import-MailMessage $folder); $null = & $list $all; $null = $all.TextBody }
    }
    $results = foreach ($name in $cases.Keys) {
        foreach ($round in 1, 2) {
            [GC]::Collect()
            [GC]::WaitForPendingFinalizers()
            $allocated = [GC]::GetTotalAllocatedBytes($true)
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $null = & $cases[$name]
            $watch.Stop()
            $allocated = [GC]::GetTotalAllocatedBytes($true) - $allocated
        }
        [pscustomobject]@{
            Case            = $name
            Seconds         = [math]::Round($watch.Elapsed.TotalSeconds, 2)
            'us per file'   = [math]::Round($watch.Elapsed.TotalMilliseconds * 1000 / $Count)
            'KB per file'   = [math]::Round($allocated / 1KB / $Count, 1)
        }
    }
    $results | Format-Table -AutoSize | Out-String | Write-Host
    $headers = $results[0]
    foreach ($r in $results | Select-Object -Skip 1) {
        Write-Host ("{0} / headers: time x{1:N1}, allocation x{2:N1}" -f $r.Case, ($r.Seconds / $headers.Seconds), ($r.'KB per file' / $headers.'KB per file'))
    }
}
finally {
    Remove-Item $folder -Recurse -Force -ErrorAction SilentlyContinue
}
