# Runs every row of tests/FaultMatrix.ps1 against the mock server: each fault must end within the
# timeout plus two seconds, with the expected typed error (or success), and with nothing lost and
# nothing sent twice. Also checks that README.md shows the same matrix.

BeforeDiscovery {
    # The SMTP rows run against a server without CHUNKING (DATA) and again with it (BDAT), except
    # those whose fault is tied to DATA itself (a reply to DATA, a close in the middle of its data).
    $faults = foreach ($row in . (Join-Path $PSScriptRoot 'FaultMatrix.ps1')) {
        $row + @{ Variant = '' }
        $rule = @($row.Rule)
        if ($row.Run -eq 'Send' -and $rule[0] -ne 'CloseMidData' -and $rule[1] -ne 'DATA') {
            $row + @{ Variant = ' (CHUNKING)'; Chunking = $true }
        }
    }
}

Describe 'Fault matrix' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $mock.Users['alice'] -AsPlainText -Force))
        $timeoutSec = 2
        $bigFile = Join-Path $TestDrive 'big.bin'
        [IO.File]::WriteAllBytes($bigFile, [byte[]]::new(8MB))

        function Format-FaultTable {
            # The README table for the matrix rows.
            param($Rows)
            '| Id | Cmdlet | Fault | Behaviour |'
            '|---|---|---|---|'
            foreach ($row in $Rows) { "| $($row.Id) | $($row.Cmdlet) | $($row.Fault) | $($row.Behaviour) |" }
        }

        function Lock-Mailbox {
            # A raw POP3 session logged in as alice: it holds the mailbox lock until disposed.
            $client = [System.Net.Sockets.TcpClient]::new($mock.Host, $mock.Pop3Port)
            $reader = [IO.StreamReader]::new($client.GetStream())
            $writer = [IO.StreamWriter]::new($client.GetStream()); $writer.NewLine = "`r`n"; $writer.AutoFlush = $true
            $null = $reader.ReadLine()
            $writer.WriteLine('USER alice'); $null = $reader.ReadLine()
            $writer.WriteLine("PASS $($mock.Users['alice'])"); $null = $reader.ReadLine()
            $client
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
    }

    It '<Id><Variant> <Cmdlet>: <Fault>' -ForEach $faults {
        # Read the row through $row: a key that this row lacks must not keep a value from another.
        $row = $_
        if ($row.Chunking) { $mock.Smtp.Chunking = $true }
        if ($row.Options) { foreach ($key in $row.Options.Keys) { $mock.Smtp.$key = $row.Options[$key] } }
        if ($row.Pop3Options) { foreach ($key in $row.Pop3Options.Keys) { $mock.Pop3.$key = $row.Pop3Options[$key] } }
        if ($row.Rule) { $null = $mock.($row.Rule[0]).Invoke(@($row.Rule | Select-Object -Skip 1)) }
        if ($row.Pop3Rule) { $null = $mock.($row.Pop3Rule[0]).Invoke(@($row.Pop3Rule | Select-Object -Skip 1)) }
        $uids = if ($row.Run -ne 'Send') { $mock.AddTestMessages('alice', 3) }
        $originals = @($mock.GetMailbox('alice') | ForEach-Object { [Convert]::ToBase64String($_.Data) })
        $folder = (New-Item -ItemType Directory -Path (Join-Path $TestDrive "saved-$($row.Id)") -Force).FullName
        $lock = if ($row.Lock) { Lock-Mailbox }

        $pop = New-Pop3Parameters $mock $alice
        $pop.TimeoutSec = $timeoutSec
        if ($row.Implicit) { $pop.TlsMode = 'Implicit' }
        if ($row.TlsMode) { $pop.TlsMode = $row.TlsMode }
        if ($row.TlsMode -eq 'None') { $pop.AllowUnencryptedAuthentication = $true }
        # Every run writes a transcript and all its streams are kept: no fault may leak the password.
        $transcript = Join-Path $TestDrive "$($row.Id).log"
        $pop.TranscriptPath = $transcript
        $caught = $null
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $VerbosePreference = 'Continue'
        $DebugPreference = 'Continue'
        $records = try {
            switch ($row.Run) {
                'Send' {
                    $send = @{
                        SmtpServer = $mock.Host; Port = $mock.SmtpPort; SkipCertificateCheck = $true; TimeoutSec = $timeoutSec
                        MaximumRetryCount = 2; RetryIntervalSec = 0; From = 'ops@example.com'; To = 'a@example.com', 'b@example.com'
                    }
                    if ($row.Implicit) { $send.TlsMode = 'Implicit' }
                    if ($row.TlsMode) { $send.TlsMode = $row.TlsMode }
                    if ($row.SmtpsPort) { $send.Port = $mock.SmtpsPort }
                    if ($row.Credential) { $send.Credential = $alice }
                    if ($row.Big) { $send.Attachments = $bigFile; $send.TimeoutSec = 30 }
                    Send-SmtpMessage @send -TranscriptPath $transcript -ErrorAction SilentlyContinue -ErrorVariable errors *>&1
                }
                'Get' { Get-Pop3Message @pop -Delete -ErrorAction SilentlyContinue -ErrorVariable errors *>&1 }
                'Save' { Get-Pop3Message @pop -Delete -Destination $folder -ErrorAction SilentlyContinue -ErrorVariable errors *>&1 }
                'List' { Get-Pop3Message @pop -ErrorAction SilentlyContinue -ErrorVariable errors *>&1 }
                'Remove' { Remove-Pop3Message @pop -Uid $uids[0] -Force -ErrorAction SilentlyContinue -ErrorVariable errors *>&1 }
            }
        }
        catch { $caught = $_ }
        finally {
            $watch.Stop()
            $VerbosePreference = 'SilentlyContinue'
            $DebugPreference = 'SilentlyContinue'
            if ($lock) { $lock.Dispose() }
        }

        $seen = (@($records) + @($caught) | Where-Object { $_ } | ForEach-Object {
                $_ | Out-String
                if ($_ -is [System.Management.Automation.ErrorRecord]) { $_.Exception.ToString() }
            }) -join "`n"
        if (Test-Path $transcript) { $seen += Get-Content $transcript -Raw }
        Assert-NoSecret -Text $seen -Secret $mock.Users['alice'], "`0alice`0$($mock.Users['alice'])"

        $ids = @(@($errors) + @($caught) | Where-Object { $_ } | ForEach-Object {
                $record = if ($_ -is [System.Management.Automation.ErrorRecord]) { $_ } else { $_.ErrorRecord }
                ($record.FullyQualifiedErrorId -split ',')[0]
            } | Select-Object -Unique)
        $errorId = if ($row.Chunking -and $row.Bdat) { $row.Bdat } else { $row.ErrorId }
        if ($errorId) {
            $ids | Should -Contain $errorId
        }
        else {
            $ids | Should -BeNullOrEmpty
        }

        if ($row.Advice) {
            (@(@($errors) + @($caught) | Where-Object { $_ } | ForEach-Object { "$_" }) -join "`n") | Should -Match ([regex]::Escape($row.Advice))
        }

        $limit = if ($row.Big) { 30 } else { $timeoutSec + 2 }
        $watch.Elapsed.TotalSeconds | Should -BeLessThan $limit

        if ($row.PlainText) {
            $sessions = if ($row.Run -eq 'Send') { $mock.SmtpSessions } else { $mock.Pop3Sessions }
            $sessions.Count | Should -BeGreaterThan 0
            @($sessions | Where-Object Tls) | Should -BeNullOrEmpty -Because 'the fault must be met in plain text'
        }

        if ($row.Run -eq 'Send') {
            # Every accepted transaction is one delivery: never more than expected (no duplicate).
            # DeliveryUnknown is that: the server may or may not have it (the mock, reading on
            # after a trickled reply, has it), but never twice.
            if ($row.Chunking -and $row.Bdat -eq 'DeliveryUnknown') { $mock.Messages.Count | Should -BeLessOrEqual 1 }
            else { $mock.Messages.Count | Should -Be $row.Delivered }
        }
        else {
            $null = $mock.WaitForIdle(5000)
            $mock.GetMailbox('alice').Count | Should -Be $row.Delivered
        }

        # Whatever was saved is whole: no partial file, each .eml is byte for byte a message, and
        # there are as many as the row says (a loop over no file would prove nothing).
        Get-ChildItem $folder -Filter '*.partial' | Should -BeNullOrEmpty
        $savedFiles = @(Get-ChildItem $folder -Filter '*.eml')
        if ($row.Run -eq 'Save') {
            $row.Keys | Should -Contain 'Saved' -Because 'a row that saves must say how many files it leaves'
            $savedFiles.Count | Should -Be $row.Saved
        }
        else {
            $savedFiles | Should -BeNullOrEmpty
        }
        foreach ($saved in $savedFiles) {
            $originals | Should -Contain ([Convert]::ToBase64String([IO.File]::ReadAllBytes($saved.FullName)))
        }
    }

    It 'is the table in README.md' {
        $expected = (Format-FaultTable (. (Join-Path $PSScriptRoot 'FaultMatrix.ps1'))) -join "`n"
        $readme = (Get-Content (Join-Path $PSScriptRoot '../README.md') -Raw) -replace "`r`n", "`n"
        $readme.Contains($expected) | Should -BeTrue -Because "README.md must hold the matrix of tests/FaultMatrix.ps1; the table is:`n$expected"
    }
}

Describe 'Faults beyond one message' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
    }

    It 'a reply after the final dot that <Case> fails that message only; the next goes on a new connection' -ForEach @(
        @{ Case = 'never comes (plain text)'; Rule = 'NeverReply', 'DOT', 1; TlsMode = 'None' }
        @{ Case = 'trickles in (TLS)'; Rule = 'Trickle', 'DOT', 1000, 1; TlsMode = 'StartTls' }
        @{ Case = 'is a closed connection'; Rule = 'CloseOn', 'DOT', '', 1; TlsMode = 'StartTls' }
    ) {
        $null = $mock.($Rule[0]).Invoke(@($Rule | Select-Object -Skip 1))
        $rows = [pscustomobject]@{ To = 'a@example.com'; Subject = 'first row' }, [pscustomobject]@{ To = 'b@example.com'; Subject = 'second row' }
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $results = $rows | Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -TlsMode $TlsMode -SkipCertificateCheck -TimeoutSec 2 -MaximumRetryCount 2 -RetryIntervalSec 0 -From 'ops@example.com' -ErrorAction SilentlyContinue -ErrorVariable errors
        $watch.Stop()

        @($errors).Count | Should -Be 1
        ($errors[0].FullyQualifiedErrorId -split ',')[0] | Should -Be 'DeliveryUnknown'
        @($results).Count | Should -Be 1
        $results.Subject | Should -Be 'second row'
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 6

        # Each row's data went out exactly once; the second on a connection of its own.
        $null = $mock.WaitForIdle(5000)
        $sessions = @($mock.SmtpSessions)
        $sessions.Count | Should -Be 2
        $sent = @($sessions.Transactions | Where-Object { $null -ne $_.Data })
        @($sent | Where-Object DataText -Match '(?m)^Subject: first row').Count | Should -Be 1
        @($sent | Where-Object DataText -Match '(?m)^Subject: second row').Count | Should -Be 1
        @($sessions[1].Transactions | Where-Object DataText -Match '(?m)^Subject: second row').Count | Should -Be 1
        @($mock.Messages | Where-Object DataText -Match '(?m)^Subject: second row').Count | Should -Be 1
    }

    It 'a connection lost while reconnecting after a DeliveryUnknown is retried for the next message' {
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $mock.Users['alice'] -AsPlainText -Force))
        $null = $mock.CloseOn('DOT', '', 1)
        # The first AUTH passes (a no-op delay uses up the first match); the second connection's AUTH is cut.
        $null = $mock.Delay('AUTH', 0, 1)
        $null = $mock.CloseOn('AUTH', '', 1)
        $rows = [pscustomobject]@{ To = 'a@example.com'; Subject = 'first row' }, [pscustomobject]@{ To = 'b@example.com'; Subject = 'second row' }
        $results = $rows | Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -Credential $alice -SkipCertificateCheck -TimeoutSec 5 -MaximumRetryCount 2 -RetryIntervalSec 0 -From 'ops@example.com' -ErrorAction SilentlyContinue -ErrorVariable errors

        @($errors | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }) | Should -Be @('DeliveryUnknown')
        $results.Subject | Should -Be 'second row'
        $results.Attempts | Should -Be 2
        @($mock.Messages | Where-Object DataText -Match '(?m)^Subject: second row').Count | Should -Be 1
        $mock.SmtpSessions.Count | Should -Be 3
    }

    It 'waits 1 s, then 2 s between attempts (-RetryIntervalSec 1), and delivers once' {
        $null = $mock.ReplyTo('MAIL', '', '451 4.3.0 Try later', 2)
        $result = Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -SkipCertificateCheck -TimeoutSec 10 -MaximumRetryCount 2 -RetryIntervalSec 1 -From 'ops@example.com' -To 'a@example.com' -ErrorAction SilentlyContinue -ErrorVariable errors

        $errors | Should -BeNullOrEmpty
        $result.Attempts | Should -Be 3
        $mock.Messages.Count | Should -Be 1
        # When the mock received each MAIL FROM: the gaps are the client's waits plus a round trip (RSET).
        $times = @(foreach ($session in $mock.SmtpSessions) {
                $commands = $session.Commands; $at = $session.CommandTimes
                for ($i = 0; $i -lt $commands.Count; $i++) { if ($commands[$i] -like 'MAIL *') { $at[$i] } }
            }) | Sort-Object
        $times.Count | Should -Be 3
        $first = ($times[1] - $times[0]).TotalSeconds
        $second = ($times[2] - $times[1]).TotalSeconds
        $first | Should -BeGreaterOrEqual 0.95
        $first | Should -BeLessThan 1.6
        $second | Should -BeGreaterOrEqual 1.95
        $second | Should -BeLessThan 2.6
    }
}
