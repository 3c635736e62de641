using System.Diagnostics;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Win32.SafeHandles;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// (f) Durable publish throughput: Busbar's write-ahead log in each flush mode with 1 and 16
/// concurrent publishers, beside two references on the same disk in the same run: a raw append +
/// fsync group commit (the floor: what the disk allows when publishers share fsyncs) and SQLite
/// (WAL journal, synchronous=FULL, one row per transaction) inserting the same payloads.
/// </summary>
public static class DurabilityScenario
{
    private const int PayloadBytes = 128;

    public static async Task<string> RunAsync(DriverSettings settings)
    {
        var duration = settings.Dry ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromSeconds(3);
        var table = new MarkdownTable("Store", "Publishers", "Records/s", "vs raw group commit", "vs SQLite");
        foreach (var publishers in new[] { 1, 16 })
        {
            var raw = await MeasureAsync(duration, publishers, RawGroupCommit.Create);
            var sqlite = await MeasureAsync(duration, publishers, SqliteStore.Create);
            var rows = new List<(string Name, double Rate)>
            {
                ("Raw append + fsync, group commit (floor)", raw),
                ("SQLite, WAL journal, synchronous=FULL", sqlite),
            };
            foreach (var mode in new[] { WalFlushMode.Always, WalFlushMode.Interval, WalFlushMode.None })
                rows.Add(($"Busbar PublishAsync, WAL {mode}", await MeasureAsync(duration, publishers, dir => BusbarStore.Create(dir, mode))));
            foreach (var (name, rate) in rows)
                table.Add(name, publishers.ToString(), MarkdownTable.Rate(rate), MarkdownTable.Ratio(rate / raw), MarkdownTable.Ratio(rate / sqlite));
        }

        var text = new StringBuilder();
        text.AppendLine("## (f) Durable publish: write-ahead log flush modes vs the disk floor and SQLite");
        text.AppendLine();
        text.AppendLine($"{PayloadBytes}-byte payloads, {duration.TotalSeconds:0.#} s per row, publishers awaiting each publish (acknowledged = durable under the mode). Goal (issue 4): `Always` with 16 publishers ≥ 0.5× the raw group-commit floor and above SQLite.");
        text.AppendLine();
        text.Append(table);
        text.AppendLine();
        return text.ToString();
    }

    private static async Task<double> MeasureAsync(TimeSpan duration, int publishers, Func<string, Task<IStore>> open)
    {
        var dir = Path.Combine(Path.GetTempPath(), "busbar-bench-durable-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            await using var store = await open(dir);
            var payload = new byte[PayloadBytes];
            Random.Shared.NextBytes(payload);

            // Warm-up: a few appends per publisher outside the measurement.
            await Task.WhenAll(Enumerable.Range(0, publishers).Select(async p =>
            {
                for (var i = 0; i < 5; i++)
                    await store.AppendAsync(payload);
            }));
            long count = 0;
            var stopwatch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, publishers).Select(_ => Task.Run(async () =>
            {
                while (stopwatch.Elapsed < duration)
                {
                    await store.AppendAsync(payload);
                    Interlocked.Increment(ref count);
                }
            })));
            return count / stopwatch.Elapsed.TotalSeconds;
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private interface IStore : IAsyncDisposable
    {
        ValueTask AppendAsync(byte[] payload);
    }

    /// <summary>The floor: appenders share one write and one fsync per batch, nothing else.</summary>
    private sealed class RawGroupCommit : IStore
    {
        private readonly object _lock = new();
        private readonly SafeFileHandle _file;
        private readonly Task _flusher;
        private readonly CancellationTokenSource _stop = new();
        private readonly SemaphoreSlim _signal = new(0);
        private MemoryStream _pending = new();
        private TaskCompletionSource _batch = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _offset;

        private RawGroupCommit(string dir)
        {
            _file = File.OpenHandle(Path.Combine(dir, "raw.log"), FileMode.CreateNew, FileAccess.ReadWrite);
            _flusher = Task.Run(FlushLoopAsync);
        }

        public static Task<IStore> Create(string dir) => Task.FromResult<IStore>(new RawGroupCommit(dir));

        public ValueTask AppendAsync(byte[] payload)
        {
            Task wait;
            lock (_lock)
            {
                Span<byte> length = stackalloc byte[4];
                BitConverter.TryWriteBytes(length, payload.Length);
                _pending.Write(length);
                _pending.Write(payload);
                wait = _batch.Task;
            }

            _signal.Release();
            return new ValueTask(wait);
        }

        private async Task FlushLoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await _signal.WaitAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                MemoryStream batch;
                TaskCompletionSource done;
                lock (_lock)
                {
                    if (_pending.Length == 0)
                        continue;
                    batch = _pending;
                    done = _batch;
                    _pending = new MemoryStream();
                    _batch = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                RandomAccess.Write(_file, batch.GetBuffer().AsSpan(0, (int)batch.Length), _offset);
                _offset += batch.Length;
                RandomAccess.FlushToDisk(_file);
                done.TrySetResult();
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await _flusher;
            _file.Dispose();
        }
    }

    /// <summary>SQLite, one row per transaction, WAL journal with a full sync per commit; one connection per publisher.</summary>
    private sealed class SqliteStore : IStore
    {
        private readonly string _connectionString;
        private readonly ThreadLocal<SqliteConnection> _connections;
        private readonly List<SqliteConnection> _all = [];

        private SqliteStore(string dir)
        {
            _connectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(dir, "events.db"), Pooling = false }.ToString();
            using (var setup = Open())
            {
                Execute(setup, "PRAGMA journal_mode=WAL;");
                Execute(setup, "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);");
            }

            _connections = new ThreadLocal<SqliteConnection>(() =>
            {
                var connection = Open();
                lock (_all)
                    _all.Add(connection);
                return connection;
            });
        }

        public static Task<IStore> Create(string dir) => Task.FromResult<IStore>(new SqliteStore(dir));

        private SqliteConnection Open()
        {
            var connection = new SqliteConnection(_connectionString);
            connection.Open();
            Execute(connection, "PRAGMA synchronous=FULL;");
            Execute(connection, "PRAGMA busy_timeout=10000;");
            return connection;
        }

        private static void Execute(SqliteConnection connection, string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }

        public ValueTask AppendAsync(byte[] payload)
        {
            // Microsoft.Data.Sqlite's async methods run synchronously; the call blocks like every SQLite client.
            var connection = _connections.Value!;
            using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO events (payload) VALUES ($p);";
            command.Parameters.AddWithValue("$p", payload);
            command.ExecuteNonQuery();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            lock (_all)
            {
                foreach (var connection in _all)
                    connection.Dispose();
            }

            _connections.Dispose();
            SqliteConnection.ClearAllPools();
            return ValueTask.CompletedTask;
        }
    }

    [EventName("bench.durable")]
    public sealed record DurableEvent(byte[] Payload);

    /// <summary>Busbar with a write-ahead log; a named no-op handler so every event is journaled.</summary>
    private sealed class BusbarStore : IStore
    {
        private readonly IEventBus _bus;

        private BusbarStore(IEventBus bus) => _bus = bus;

        public static Task<IStore> Create(string dir, WalFlushMode mode)
        {
#pragma warning disable IL2026, IL3050 // benchmark code: reflection-based JSON is fine here
            var bus = new EventBusBuilder()
                .WithOptions(new EventBusOptions { Capacity = 100_000, HistoryCapacity = 0 })
                .UseWriteAheadLog(dir, new WriteAheadLogOptions { FlushMode = mode })
                .Build();
#pragma warning restore IL2026, IL3050
            bus.Subscribe<DurableEvent>((_, _, _) => ValueTask.CompletedTask, new SubscriptionOptions { Name = "sink" });
            return Task.FromResult<IStore>(new BusbarStore(bus));
        }

        public async ValueTask AppendAsync(byte[] payload) => await _bus.PublishAsync(new DurableEvent(payload));

        public ValueTask DisposeAsync() => _bus.DisposeAsync();
    }
}
