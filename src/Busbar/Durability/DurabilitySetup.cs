using System.Text.Json;

namespace Busbar.Durability;

/// <summary>What <see cref="EventBusBuilder.UseWriteAheadLog(string, JsonSerializerOptions, WriteAheadLogOptions?)"/> collected.</summary>
internal sealed record DurabilitySetup(string Directory, WriteAheadLogOptions Options, JsonSerializerOptions Json, IReadOnlyList<Type> KnownTypes);
