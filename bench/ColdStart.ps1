<#
.SYNOPSIS
    Speed benchmark: a cold `pwsh -NoProfile -NonInteractive -File` that imports MailProtocols and
    sends one message, against the same process sending it with the built-in Send-MailMessage.

.DESCRIPTION
    Each contender is a new process (wall clock from start to exit, as a scheduled task or a CI
    step sees it), sending one message in plain text to the bundled mock server, which runs in
    this process. A third contender, the same pwsh running an empty script, shows the process's
    own cost. The contenders alternate for -Runs rounds after one round of warm-up (disk cache);
    the median of each is reported. Ratio: ours / Send-MailMessage (goal: at most 1.3).

        dotnet pwsh ./bench/ColdStart.ps1 -ModulePath out/MailProtocols/<v>/MailProtocols.psd1 -MockServerPath out/MockMailServer/MockMailServer.dll
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MockServerPath,
    [int] $Runs = 7
)

$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
$module = (Resolve-Path $ModulePath).Path
Add-Type -Path (Resolve-Path $MockServerPath).Path
$pwsh = Join-Path $PSHOME 'pwsh'

$server = [MockMail.MockServer]::new()
$server.Start()
$work = Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-bench-cold-$PID"
$null = New-Item -ItemType Directory -Path $work -Force
try {
    $send = "-SmtpServer '$($server.Host)' -Port $($server.SmtpPort) -From 'cold@example.com' -To 'user@example.com' -Subject 'Cold start' -Body 'One message.'"
    $scripts = [ordered]@{
        'Import-Module MailProtocols; Send-SmtpMessage' = "Import-Module '$module'`nSend-SmtpMessage $send -TlsMode None | Out-Null"
        'Send-MailMessage'                              = "Send-MailMessage $send -WarningAction SilentlyContinue"
        'empty script (the process alone)'              = '$null = 1'
    }
    $paths = @{}
    $i = 0
    foreach ($k in $scripts.Keys) {
        $paths[$k] = Join-Path $work "contender$((++$i)).ps1"
        Set-Content $paths[$k] $scripts[$k]
    }

    $times = @{}
    foreach ($k in $scripts.Keys) { $times[$k] = [Collections.Generic.List[double]]::new() }
    foreach ($round in 0..$Runs) {
        foreach ($k in $scripts.Keys) {
            $before = $server.Messages.Count
            $watch = [Diagnostics.Stopwatch]::StartNew()
            & $pwsh -NoProfile -NonInteractive -File $paths[$k]
            $seconds = $watch.Elapsed.TotalSeconds
            if ($LASTEXITCODE -ne 0) { throw "$k exited with $LASTEXITCODE" }
            $sent = $k -notlike 'empty*'
            if ($sent -and -not $server.WaitForMessages($before + 1, 10000)) { throw "$k delivered nothing" }
            if ($round -gt 0) { $times[$k].Add($seconds) }
        }
    }

    function Get-Median([double[]] $Values) {
        $sorted = $Values | Sort-Object
        $mid = [math]::Floor($sorted.Count / 2)
        if ($sorted.Count % 2) { $sorted[$mid] } else { ($sorted[$mid - 1] + $sorted[$mid]) / 2 }
    }
    $ours = Get-Median $times['Import-Module MailProtocols; Send-SmtpMessage']
    $peer = Get-Median $times['Send-MailMessage']
    $empty = Get-Median $times['empty script (the process alone)']
    Write-Host "Machine: $(nproc) cores, kernel $(uname -r); date $([DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm')) UTC"
    Write-Host "Cold start: pwsh -NoProfile -NonInteractive -File, one message to the mock server in plain text; median of $Runs alternating runs"
    $table = foreach ($k in $scripts.Keys) {
        $median = Get-Median $times[$k]
        [pscustomobject]@{
            Contender     = $k
            MedianSeconds = [math]::Round($median, 3)
            MinSeconds    = [math]::Round(($times[$k] | Measure-Object -Minimum).Minimum, 3)
            MaxSeconds    = [math]::Round(($times[$k] | Measure-Object -Maximum).Maximum, 3)
            OverProcess   = [math]::Round($median - $empty, 3)
        }
    }
    $table | Format-Table -AutoSize | Out-String -Width 200 | Out-Host
    Write-Host ("Ratio ours / Send-MailMessage: {0:N2} (goal: at most 1.3); over the bare process: {1:N2} s against {2:N2} s." -f ($ours / $peer), ($ours - $empty), ($peer - $empty))
}
finally {
    $server.Dispose()
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
