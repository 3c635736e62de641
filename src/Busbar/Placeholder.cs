namespace Busbar;
