# The mock server's own self-checks (tests/MockMailServer/selfcheck*.ps1): whole tests rely on the
# behaviours they check (rules, trickles, locks, snapshots), so they run with the suite, against
# the mock build the suite uses. Each drives the mock with python3 clients (smtplib, poplib, raw
# sockets) and prints one PASS/FAIL line per check. Both start at once, each in its own pwsh:
# most of their time is spent waiting on timers (trickles, timeouts), not on the processor.
Describe 'The mock server''s self-checks' {
    BeforeDiscovery {
        # The fewest checks each script reports today: fewer means checks were lost.
        $selfChecks = @(
            @{ Script = 'selfcheck.ps1'; Protocol = 'SMTP'; MinimumChecks = 69 }
            @{ Script = 'selfcheck-pop3.ps1'; Protocol = 'POP3'; MinimumChecks = 78 }
        )
    }

    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $runs = @{}
        foreach ($script in 'selfcheck.ps1', 'selfcheck-pop3.ps1') {
            $start = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
            foreach ($argument in '-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot "MockMailServer/$script"), '-MockServerPath', $mockPath) {
                $start.ArgumentList.Add($argument)
            }
            $start.RedirectStandardOutput = $true
            $start.RedirectStandardError = $true
            $start.UseShellExecute = $false
            $process = [Diagnostics.Process]::Start($start)
            $runs[$script] = [pscustomobject]@{
                Process = $process
                Watch   = [Diagnostics.Stopwatch]::StartNew()
                Output  = $process.StandardOutput.ReadToEndAsync()
                Errors  = $process.StandardError.ReadToEndAsync()
            }
        }

        function Wait-SelfCheck {
            # Waits (bounded) for a self-check; returns its exit code, seconds and output lines.
            param([string] $Script)
            $run = $runs[$Script]
            if (-not $run.Process.WaitForExit(180000)) {
                $run.Process.Kill($true)
                throw "$Script did not finish within 180 s."
            }
            $run.Watch.Stop()
            [pscustomobject]@{
                ExitCode = $run.Process.ExitCode
                Seconds  = $run.Watch.Elapsed.TotalSeconds
                Lines    = @($run.Output.Result -split '\r?\n' | Where-Object { $_ })
                Errors   = $run.Errors.Result
            }
        }
    }

    AfterAll {
        foreach ($run in $runs.Values) {
            if (-not $run.Process.HasExited) { $run.Process.Kill($true) }
            $run.Process.Dispose()
        }
    }

    It 'passes every <Protocol> check (<Script>, at least <MinimumChecks>)' -ForEach $selfChecks {
        $result = Wait-SelfCheck $Script
        Write-Host "    $Script`: $(@($result.Lines -like 'PASS *').Count) checks in $([math]::Round($result.Seconds, 1)) s"
        $failed = @($result.Lines | Where-Object { $_ -notlike 'PASS *' -and $_ -ne 'All checks passed' })
        $failed -join "`n" | Should -BeNullOrEmpty -Because "every check of $Script passes (stderr: $($result.Errors))"
        $result.ExitCode | Should -Be 0
        @($result.Lines -like 'PASS *').Count | Should -BeGreaterOrEqual $MinimumChecks
        $result.Lines[-1] | Should -Be 'All checks passed'
    }
}
