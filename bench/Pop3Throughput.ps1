<#
.SYNOPSIS
    Speed benchmark: reading mailboxes of 2,000 and 10,000 messages with Get-Pop3Message (headers
    listing, -IncludeBody, -Destination) against Python poplib loops and raw pipelined clients, all
    in one run against the same mock server mailbox.

.DESCRIPTION
    The server is the bundled mock (tests/MockMailServer), its mailbox filled with AddTestMessages.
    Every contender connects with STLS and logs in as alice. Pairs (ours against the peer):
      - headers listing          against poplib TOP n 0 in a loop
      - -IncludeBody             against poplib RETR in a loop
      - -Destination temp folder against poplib RETR in a loop writing one file per message (no fsync)
    Raw clients (C#, bench/RawClients.cs) write every TOP n 0 (or RETR n) command at once while a second
    thread reads the replies: the mock's own ceiling. Each contender runs -Runs times and its best
    time is kept (the machine is shared and noisy). The ratio is poplib's time for the same work
    divided by the contender's (above 1: faster than poplib).

        dotnet pwsh ./bench/Pop3Throughput.ps1 [-Count 2000,10000] -ModulePath out/MailProtocols/<v>/MailProtocols.psd1 -MockServerPath out/MockMailServer/MockMailServer.dll
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MockServerPath,
    [int[]] $Count = @(2000, 10000),
    [int] $Runs = 2
)

$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Import-Module (Resolve-Path $ModulePath).Path
Add-Type -Path (Resolve-Path $MockServerPath).Path

Add-Type -Path (Join-Path $PSScriptRoot 'RawClients.cs')

$python = @('/usr/bin/python3', (Get-Command python3 -ErrorAction SilentlyContinue).Source) | Where-Object { $_ -and (Test-Path $_) } | Select-Object -First 1

$server = [MockMail.MockServer]::new()
$server.Start()
$work = Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-bench-pop3-$PID"
$null = New-Item -ItemType Directory -Path $work -Force
if (-not $python) {
    Write-Host 'python3 not found: the poplib contenders are skipped and no ratio against poplib is computed; the raw C# client (the server''s ceiling) still runs.'
}
try {
    $password = $server.Users['alice']
    $cred = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force))
    $common = @{ Pop3Server = $server.Host; Port = $server.Pop3Port; Credential = $cred; TlsMode = 'StartTls'; SkipCertificateCheck = $true }
    # Saved files stay until the end: files created soon after many were deleted cost ten times
    # as much on ext4 (see RealServers.ps1), which would slow whichever contender came next.
    $folderNumber = 0
    function New-Folder { $script:folderNumber++; (New-Item -ItemType Directory -Path (Join-Path $work "ours$folderNumber")).FullName }
    function Wait-Idle { $null = $server.WaitForIdle(10000) }

    $ours = [ordered]@{
        'Get-Pop3Message, headers listing' = { @(Get-Pop3Message @common) }
        'Get-Pop3Message -IncludeBody'     = { @(Get-Pop3Message @common -IncludeBody) }
        'Get-Pop3Message -Destination'     = { param($folder) @(Get-Pop3Message @common -Destination $folder) }
    }
    $raw = [ordered]@{
        'raw C#, all TOP n 0 at once (server ceiling)' = $true
        'raw C#, all RETR at once (server ceiling)'    = $false
    }
    # Which poplib figure each row is compared with: the same work.
    $pairs = @{
        'Get-Pop3Message, headers listing' = 'top'; 'raw C#, all TOP n 0 at once (server ceiling)' = 'top'; 'poplib, TOP n 0 loop' = 'top'
        'Get-Pop3Message -IncludeBody' = 'retr'; 'raw C#, all RETR at once (server ceiling)' = 'retr'; 'poplib, RETR loop' = 'retr'
        'Get-Pop3Message -Destination' = 'files'; 'poplib, RETR loop writing files (no fsync)' = 'files'
    }

    # Warm up (assembly loading and JIT are not what is measured).
    $null = $server.AddTestMessages('alice', 5)
    $null = Get-Pop3Message @common -Oldest 5 -IncludeBody
    $null = Get-Pop3Message @common -Oldest 5 -Destination (New-Folder)
    Wait-Idle
    $null = [RawClients]::Pop3($server.Host, $server.Pop3Port, 'alice', $password, 5, $true)
    Wait-Idle

    $table = foreach ($n in $Count) {
        $server.Reset()
        $null = $server.AddTestMessages('alice', $n)
        $bytes = ($server.GetMailbox('alice') | Measure-Object -Property Size -Sum).Sum
        $best = [ordered]@{}
        foreach ($run in 1..$Runs) {
            foreach ($k in $ours.Keys) {
                $folder = New-Folder
                $result = $null
                $t = (Measure-Command { $result = & $ours[$k] $folder }).TotalSeconds
                Wait-Idle
                if ($result.Count -ne $n) { throw "$k returned $($result.Count) of $n messages" }
                if ($k -like '*Destination' -and @(Get-ChildItem $folder -Filter *.eml).Count -ne $n) { throw "$k saved fewer than $n files" }
                $best[$k] = [math]::Min($t, ($best[$k] ?? [double]::MaxValue))
            }
            foreach ($k in $raw.Keys) {
                $t = [RawClients]::Pop3($server.Host, $server.Pop3Port, 'alice', $password, $n, $raw[$k])
                Wait-Idle
                $best[$k] = [math]::Min($t, ($best[$k] ?? [double]::MaxValue))
            }
        }

        $peer = @{}
        if ($python) {
            $pyFolder = (New-Item -ItemType Directory -Path (Join-Path $work "python$n")).FullName
            $times = & $python (Join-Path $PSScriptRoot 'peers.py') pop3 $server.Host $server.Pop3Port 'alice' $password $n $Runs $pyFolder | ConvertFrom-Json
            if ($LASTEXITCODE -ne 0) { throw "poplib run failed ($LASTEXITCODE)" }
            $best['poplib, TOP n 0 loop'] = $peer.top = $times.top
            $best['poplib, RETR loop'] = $peer.retr = $times.retr
            $best['poplib, RETR loop writing files (no fsync)'] = $peer.files = $times.retrfiles
        }
        if ($server.GetMailbox('alice').Count -ne $n) { throw 'the mailbox changed during the run' }

        Write-Host ("POP3: mailbox of {0} messages ({1:N2} MB), STLS, mock server, best of {2}" -f $n, ($bytes / 1MB), $Runs)
        $top = $best['raw C#, all TOP n 0 at once (server ceiling)']; $retr = $best['raw C#, all RETR at once (server ceiling)']
        Write-Host ("  server ceiling: TOP {0:N3} ms/message, RETR {1:N3} ms/message; the listing runs at {2:P0} of it, -IncludeBody at {3:P0}, -Destination at {4:P0}." -f ($top * 1000 / $n), ($retr * 1000 / $n), ($top / $best['Get-Pop3Message, headers listing']), ($retr / $best['Get-Pop3Message -IncludeBody']), ($retr / $best['Get-Pop3Message -Destination']))
        foreach ($k in $best.Keys) {
            $p = $peer[$pairs[$k]]
            [pscustomobject]@{
                Messages  = $n
                Tool      = $k
                Seconds   = [math]::Round($best[$k], 3)
                MsPerMsg  = [math]::Round($best[$k] * 1000 / $n, 3)
                VsPoplib  = if ($p) { [math]::Round($p / $best[$k], 2) } else { 'n/a' }
                PoplibRow = $pairs[$k]
            }
        }
    }

    Write-Host "Machine: $(nproc) cores, kernel $(uname -r); date $([DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm')) UTC"
    $table | Format-Table -AutoSize | Out-String -Width 200 | Out-Host
    Write-Host 'VsPoplib: the time of the poplib loop named in PoplibRow divided by the row''s time (above 1: faster).'
}
finally {
    $server.Dispose()
    # Under build.ps1 -Task Bench, set aside for deletion after the last benchmark (see RealServers.ps1).
    if ($env:MAILPROTOCOLS_BENCH_TRASH) { Move-Item $work $env:MAILPROTOCOLS_BENCH_TRASH } else { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
}
